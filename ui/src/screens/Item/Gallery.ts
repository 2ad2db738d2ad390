// The item's place in the landing page's gallery: its picture (chosen, dropped, taken by
// Porch, or removed) and its tags (Connect's tag tree, named by path: finance/quarterly).
// Shown on the item's Overview tab.

import * as api from "../../api/content";
import { command } from "../../api/client";
import { isDesktop } from "../../platform";
import type { ContentView, TagView } from "../../api/types";
import { button, h } from "../../components/dom";
import { DROPPED_PATHS, TAKES_PATHS } from "../../components/DropOverlay";
import { ErrorNote } from "../../components/ErrorNote";
import { toast } from "../../components/Toast";

/** Each tag's path from the top of the tree, by id. */
export function tagPaths(all: TagView[]): Map<string, string> {
  const byId = new Map(all.map((t) => [t.id, t]));
  const out = new Map<string, string>();
  for (const t of all) {
    const parts = [t.name];
    let cur = t.parent_id ? byId.get(t.parent_id) : undefined;
    while (cur && parts.length <= all.length) {
      parts.unshift(cur.name);
      cur = cur.parent_id ? byId.get(cur.parent_id) : undefined;
    }
    out.set(t.id, parts.join("/"));
  }
  return out;
}

/** The id of the tag at `path`, making the tags along it that do not exist yet. */
async function ensurePath(path: string): Promise<string> {
  const parts = path.split("/").map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error("Type a tag, or a path such as finance/quarterly");
  let parent: string | null = null;
  const all = await api.allTags();
  for (const name of parts) {
    const found: TagView | undefined = all.find((t) => t.name === name && (t.parent_id ?? null) === parent);
    if (found) {
      parent = found.id;
    } else {
      const made = await api.createTag(name, parent);
      all.push(made);
      parent = made.id;
    }
  }
  return parent as string;
}

export function galleryCard(c: ContentView): HTMLElement {
  const box = h("section", { class: "card gallery-card", "data-testid": "gallery-card", "aria-labelledby": "gallery-h" }, h("h2", { id: "gallery-h" }, "In the gallery"));
  box.append(pictureBlock(c), tagsBlock(c));
  return box;
}

function pictureBlock(c: ContentView): HTMLElement {
  const frame = h("div", { class: "thumb-drop", "data-testid": "thumb-drop", tabindex: "-1", [TAKES_PATHS]: "" });
  const note = h("p", { class: "muted small", "data-testid": "thumb-note" });
  const error = h("div", {});
  const file = h("input", { type: "file", id: "thumb-file", accept: "image/png,image/jpeg,image/gif,image/webp", class: "sr-only", "data-testid": "thumb-file" }) as HTMLInputElement;
  let objectUrl: string | null = null;

  const paint = async () => {
    error.replaceChildren();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    try {
      // The desktop window's pages load images only from the app itself or `data:` URLs.
      const src = isDesktop()
        ? await command<string | null>("thumbnail_data_url", { guid: c.guid })
        : await api.thumbnail(c.guid).then((blob) => (blob ? (objectUrl = URL.createObjectURL(blob)) : null));
      if (src) {
        frame.replaceChildren(h("img", { src, alt: `Picture of ${c.title || c.name}`, "data-testid": "thumb-img" }));
        note.textContent = "Shown on the landing page. Drop another picture here to replace it.";
      } else {
        frame.replaceChildren(h("p", { class: "muted" }, "No picture yet: the landing page shows a generated card."));
        note.textContent = "Drop a PNG, JPEG, GIF or WebP picture here (up to 10 MiB).";
      }
    } catch (err) {
      error.replaceChildren(ErrorNote(err, "The picture could not be loaded"));
    }
  };
  const upload = async (blob: Blob) => {
    try {
      await api.putThumbnail(c.guid, blob);
      toast("Picture saved", "ok");
      await paint();
    } catch (err) {
      error.replaceChildren(ErrorNote(err, "The picture was refused"));
    }
  };
  file.addEventListener("change", () => {
    const f = file.files?.[0];
    if (f) void upload(f);
    file.value = "";
  });
  // A drop on the picture sets the picture (and is not taken as a new deploy).
  frame.addEventListener("dragover", (e) => {
    e.preventDefault();
    e.stopPropagation();
    frame.classList.add("over");
  });
  frame.addEventListener("dragleave", () => frame.classList.remove("over"));
  frame.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    frame.classList.remove("over");
    const f = (e as DragEvent).dataTransfer?.files?.[0];
    if (f) void upload(f);
  });
  // The desktop window: a file dropped on the picture arrives as a path (see app.ts).
  frame.addEventListener(DROPPED_PATHS, (e) => {
    const path = (e as CustomEvent<string[]>).detail[0];
    if (!path) return;
    command<void>("thumbnail_from_path", { guid: c.guid, path }).then(
      () => (toast("Picture saved", "ok"), paint()),
      (err) => error.replaceChildren(ErrorNote(err, "The picture was refused")),
    );
  });
  void paint();
  return h(
    "div",
    { class: "picture" },
    frame,
    note,
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "thumb-file", class: "btn", "data-testid": "thumb-choose", tabindex: "0", onkeydown: (e: Event) => {
        const k = (e as KeyboardEvent).key;
        if (k === "Enter" || k === " ") (e.preventDefault(), file.click());
      } }, "Choose picture…"),
      file,
      button("Take a picture", () => void api.captureThumbnail(c.guid).then(() => (toast("Picture taken", "ok"), paint()), (err) => error.replaceChildren(ErrorNote(err, "Porch could not take a picture"))), { testid: "thumb-capture" }),
      button("Remove picture", () => void api.deleteThumbnail(c.guid).then(() => paint(), (err) => error.replaceChildren(ErrorNote(err))), { testid: "thumb-remove" }),
    ),
    error,
  );
}

function tagsBlock(c: ContentView): HTMLElement {
  const list = h("ul", { class: "tag-list", "data-testid": "tag-list", "aria-label": "Tags of this item" });
  const options = h("datalist", { id: "tag-paths" });
  const input = h("input", { id: "tag-input", list: "tag-paths", placeholder: "finance/quarterly", "data-testid": "tag-input", autocomplete: "off" }) as HTMLInputElement;
  const error = h("div", {});
  const paint = async () => {
    try {
      const [all, mine] = await Promise.all([api.allTags(), api.contentTags(c.guid)]);
      const paths = tagPaths(all);
      options.replaceChildren(...[...paths.values()].sort().map((p) => h("option", { value: p })));
      const shown = mine.map((t) => ({ id: t.id, path: paths.get(t.id) ?? t.name })).sort((a, b) => a.path.localeCompare(b.path));
      list.replaceChildren(
        ...(shown.length === 0
          ? [h("li", { class: "muted" }, "No tags yet.")]
          : shown.map((t) =>
              h("li", { class: "tag-chip" }, t.path, " ", h("button", { type: "button", class: "link", "aria-label": `Remove tag ${t.path}`, "data-testid": `tag-remove-${t.path}`, onclick: () => void api.removeContentTag(c.guid, t.id).then(paint, (err) => error.replaceChildren(ErrorNote(err))) }, "×")),
            )),
      );
    } catch (err) {
      error.replaceChildren(ErrorNote(err, "The tags could not be loaded"));
    }
  };
  const add = async () => {
    error.replaceChildren();
    const path = input.value.trim();
    if (!path) return;
    try {
      await api.addContentTag(c.guid, await ensurePath(path));
      input.value = "";
      await paint();
    } catch (err) {
      error.replaceChildren(ErrorNote(err, "The tag could not be added"));
    }
  };
  input.addEventListener("keydown", (e) => {
    if ((e as KeyboardEvent).key === "Enter") (e.preventDefault(), void add());
  });
  void paint();
  return h(
    "div",
    { class: "tags" },
    h("h3", {}, "Tags"),
    list,
    h("div", { class: "toolbar" }, h("label", { for: "tag-input" }, "Add a tag"), input, options, button("Add tag", () => void add(), { testid: "tag-add" })),
    h("p", { class: "muted small" }, "A path such as finance/quarterly puts the item under both finance and finance/quarterly. Visitors filter the landing page by tag."),
    error,
  );
}
