// A tiny element builder so the components read like markup without a framework.
// Text children are always set as text nodes: nothing here ever parses HTML, so titles and
// paths from the engine cannot inject markup.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | undefined | ((event: Event) => void)>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") {
      el.addEventListener(key.replace(/^on/, "").toLowerCase(), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, value);
    }
  }
  for (const child of children) {
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
