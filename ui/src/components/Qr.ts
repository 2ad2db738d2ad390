// A QR code of a URL as an SVG image (qrcode-generator does the encoding).

import qrcode from "qrcode-generator";
import { h } from "./dom";

export function Qr(url: string, label: string): HTMLElement {
  const qr = qrcode(0, "M");
  qr.addData(url);
  qr.make();
  const img = h("img", { class: "qr", alt: label, "data-testid": "qr", width: 168, height: 168 }) as HTMLImageElement;
  img.src = qr.createDataURL(4, 2);
  return img;
}
