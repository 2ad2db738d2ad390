// A tiny element builder so the components read like markup without a framework.
// Text children are always set as text nodes: nothing here ever parses HTML, so titles and
// paths from the engine cannot inject markup.

export type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | ((event: Event) => void)>;

export function h(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") {
      el.addEventListener(key.replace(/^on/, "").toLowerCase(), value);
    } else if (key === "value" && (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)) {
      el.value = String(value);
    } else if (key === "checked" && el instanceof HTMLInputElement) {
      el.checked = Boolean(value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Like `h`, for SVG elements (charts drawn by hand); attributes are set as given, text as text. */
export function svg(tag: string, attrs: Record<string, string | number | undefined> = {}, ...children: (Child | Child[])[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** A link that asks the caller to open its URL (the desktop window must not navigate). */
export function externalLink(url: string, onOpen: (url: string) => void, label = url): HTMLElement {
  return h(
    "a",
    {
      href: url,
      target: "_blank",
      rel: "noopener noreferrer",
      onclick: (event: Event) => {
        event.preventDefault();
        onOpen(url);
      },
    },
    label,
  );
}

/** A labelled form field: label, control, hint and error, wired with ids for screen readers. */
export function field(id: string, label: string, control: HTMLElement, opts: { hint?: string; error?: string } = {}): HTMLElement {
  control.id = id;
  if (opts.error) {
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", `${id}-error`);
  } else if (opts.hint) {
    control.setAttribute("aria-describedby", `${id}-hint`);
  }
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    opts.hint ? h("p", { class: "hint muted small", id: `${id}-hint` }, opts.hint) : null,
    opts.error ? h("p", { class: "field-error small", id: `${id}-error`, role: "alert" }, opts.error) : null,
  );
}

/** A button. */
export function button(label: string, onclick: () => void, opts: { kind?: "primary" | "danger" | "quiet"; testid?: string; disabled?: boolean; title?: string } = {}): HTMLElement {
  return h(
    "button",
    {
      type: "button",
      class: `btn ${opts.kind ? `btn-${opts.kind}` : ""}`.trim(),
      "data-testid": opts.testid,
      disabled: opts.disabled,
      title: opts.title,
      onclick: () => onclick(),
    },
    label,
  );
}

/** Copies text to the clipboard; answers whether it worked. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API unavailable (plain http on the LAN): fall back to a selection copy.
    const area = h("textarea", { "aria-hidden": "true", style: "position:fixed;opacity:0" }) as HTMLTextAreaElement;
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}
