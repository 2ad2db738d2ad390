//! Tags: Connect's tag tree (`parent_id`, names unique among siblings) and the tags of each
//! item. Putting a tag on an item puts its ancestors on it too; taking one off takes its
//! descendants off (what remains is always closed under "parent of"). A tag is also named by
//! its path from the top, `finance/quarterly` (the CLI and the landing page's filter), so a
//! name may not contain `/`.
//!
//! Every change to an item's tags emits `ContentChanged` for it, and every change to the
//! tree `LibraryChanged`, so cached lists and the gallery index go stale.

use std::collections::HashMap;

use serde::Serialize;

use super::Gallery;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::{ContentRow, TagRow};
use crate::time::now;

/// Longest tag name, in characters.
const MAX_NAME: usize = 100;

/// A tag as Connect's API shows it (ids are strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TagView {
    /// The tag's id.
    pub id: String,
    /// Its name, unique among its siblings.
    pub name: String,
    /// The parent's id; `null` for a top-level tag.
    pub parent_id: Option<String>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
}

impl From<&TagRow> for TagView {
    fn from(t: &TagRow) -> Self {
        TagView {
            id: t.id.to_string(),
            name: t.name.clone(),
            parent_id: t.parent_id.map(|p| p.to_string()),
            created_time: t.created_time.clone(),
            updated_time: t.updated_time.clone(),
        }
    }
}

/// Checks a tag name: 1 to 100 characters after trimming, no `/` (paths use it) and no
/// control characters.
pub fn validate_tag_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Error::Invalid(format!("a tag name needs 1 to {MAX_NAME} characters, not {name:?}")));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "the tag name {name:?} contains '/' or a control character; '/' separates a tag from its parent in paths such as finance/quarterly"
        )));
    }
    Ok(name.to_string())
}

/// Reads a tag id given in a URL or a body.
fn parse_id(id: &str) -> Result<i64> {
    id.trim().parse::<i64>().map_err(|_| Error::not_found("tag", id))
}

/// Each tag's path from the top (`finance/quarterly`), by id.
pub(super) fn paths_by_id(all: &[TagRow]) -> HashMap<i64, String> {
    let by_id: HashMap<i64, &TagRow> = all.iter().map(|t| (t.id, t)).collect();
    let mut out = HashMap::with_capacity(all.len());
    for t in all {
        let mut parts = vec![t.name.as_str()];
        let mut cur = t.parent_id;
        // The tree has no cycles (moves are checked), but a bound keeps a damaged one finite.
        while let Some(p) = cur.and_then(|id| by_id.get(&id)).filter(|_| parts.len() <= all.len()) {
            parts.push(p.name.as_str());
            cur = p.parent_id;
        }
        parts.reverse();
        out.insert(t.id, parts.join("/"));
    }
    out
}

/// A tag and its ancestors' ids.
fn with_ancestors(all: &[TagRow], id: i64) -> Vec<i64> {
    let by_id: HashMap<i64, &TagRow> = all.iter().map(|t| (t.id, t)).collect();
    let mut out = vec![id];
    let mut cur = by_id.get(&id).and_then(|t| t.parent_id);
    while let Some(p) = cur.filter(|p| !out.contains(p)) {
        out.push(p);
        cur = by_id.get(&p).and_then(|t| t.parent_id);
    }
    out
}

/// A tag and its descendants' ids.
fn with_descendants(all: &[TagRow], id: i64) -> Vec<i64> {
    let mut out = vec![id];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        let children: Vec<i64> =
            all.iter().filter(|t| t.parent_id == Some(parent) && !out.contains(&t.id)).map(|t| t.id).collect();
        out.extend(children);
        i += 1;
    }
    out
}

impl Gallery {
    /// Tags, optionally only those with this name and/or this parent
    /// (`GET /v1/tags?name=&parent_id=`).
    pub async fn tags(&self, name: Option<&str>, parent_id: Option<&str>) -> Result<Vec<TagView>> {
        let parent = match parent_id.filter(|p| !p.is_empty()) {
            Some(p) => Some(p.trim().parse::<i64>().map_err(|_| {
                Error::Invalid(format!("parent_id must be a tag id (a number as a string), not {p:?}"))
            })?),
            None => None,
        };
        Ok(self
            .shared
            .store
            .list_tags()
            .await?
            .iter()
            .filter(|t| name.is_none_or(|n| t.name == n) && parent.is_none_or(|p| t.parent_id == Some(p)))
            .map(TagView::from)
            .collect())
    }

    async fn tag_row(&self, id: &str) -> Result<TagRow> {
        self.shared.store.find_tag(parse_id(id)?).await?.ok_or_else(|| Error::not_found("tag", id))
    }

    /// One tag.
    pub async fn tag(&self, id: &str) -> Result<TagView> {
        Ok(TagView::from(&self.tag_row(id).await?))
    }

    /// Creates a tag under `parent_id` (or at the top).
    pub async fn create_tag(&self, name: &str, parent_id: Option<&str>) -> Result<TagView> {
        let name = validate_tag_name(name)?;
        let _turn = self.state.tag_lock.lock().await;
        let parent = match parent_id {
            Some(p) => Some(self.parent_row(p).await?.id),
            None => None,
        };
        let row = self.shared.store.insert_tag(&name, parent, &now()).await?;
        self.shared.emit(Event::LibraryChanged);
        Ok(TagView::from(&row))
    }

    async fn parent_row(&self, id: &str) -> Result<TagRow> {
        let parsed = id
            .trim()
            .parse::<i64>()
            .map_err(|_| Error::Invalid(format!("parent_id must be a tag id (a number as a string), not {id:?}")))?;
        self.shared.store.find_tag(parsed).await?.ok_or_else(|| Error::not_found("parent tag", id))
    }

    /// Renames a tag and/or moves it (`parent_id`: `None` leaves it, `Some(None)` moves it
    /// to the top). A tag cannot move below itself. Items carrying the moved tag (or one
    /// below it) get its new ancestors too, so what an item carries stays closed under
    /// "parent of"; the old ancestors stay on them as tags of their own.
    pub async fn update_tag(&self, id: &str, name: Option<&str>, parent_id: Option<Option<&str>>) -> Result<TagView> {
        let _turn = self.state.tag_lock.lock().await;
        let tag = self.tag_row(id).await?;
        let name = match name {
            Some(n) => validate_tag_name(n)?,
            None => tag.name.clone(),
        };
        let parent = match parent_id {
            None => tag.parent_id,
            Some(None) => None,
            Some(Some(p)) => {
                let parent = self.parent_row(p).await?;
                let all = self.shared.store.list_tags().await?;
                if with_descendants(&all, tag.id).contains(&parent.id) {
                    return Err(Error::Invalid(format!(
                        "tag {} cannot move under {} (itself or one of its own descendants)",
                        tag.name, parent.name
                    )));
                }
                Some(parent.id)
            }
        };
        self.shared.store.update_tag(tag.id, &name, parent, &now()).await?;
        if parent != tag.parent_id {
            let all = self.shared.store.list_tags().await?;
            let (moved, ancestors) = (with_descendants(&all, tag.id), with_ancestors(&all, tag.id));
            let mut items: Vec<i64> = self
                .shared
                .store
                .all_content_tags()
                .await?
                .into_iter()
                .filter(|(_, t)| moved.contains(t))
                .map(|(c, _)| c)
                .collect();
            items.sort_unstable();
            items.dedup();
            for item in items {
                self.shared.store.add_content_tags(item, &ancestors).await?;
            }
        }
        self.shared.emit(Event::LibraryChanged);
        self.tag(id).await
    }

    /// Deletes a tag and its descendants, taking them off every item.
    pub async fn delete_tag(&self, id: &str) -> Result<()> {
        let _turn = self.state.tag_lock.lock().await;
        let tag = self.tag_row(id).await?;
        self.shared.store.delete_tag(tag.id).await?;
        self.shared.emit(Event::LibraryChanged);
        Ok(())
    }

    /// The items that carry a tag (`GET /v1/tags/{id}/content`).
    pub async fn tag_content(&self, id: &str) -> Result<Vec<ContentRow>> {
        let tag = self.tag_row(id).await?;
        let ids = self.shared.store.tagged_content_ids(tag.id).await?;
        Ok(self.library.content_rows(None).await?.into_iter().filter(|c| ids.contains(&c.id)).collect())
    }

    /// An item's tags, oldest first.
    pub async fn content_tags(&self, key: &str) -> Result<Vec<TagView>> {
        let c = self.library.content(key).await?;
        Ok(self.shared.store.content_tags(c.id).await?.iter().map(TagView::from).collect())
    }

    /// Every item's tags at once, by item id (`include=tags` on content lists).
    pub async fn tags_by_content(&self) -> Result<HashMap<i64, Vec<TagView>>> {
        let all = self.shared.store.list_tags().await?;
        let by_id: HashMap<i64, &TagRow> = all.iter().map(|t| (t.id, t)).collect();
        let mut out: HashMap<i64, Vec<TagView>> = HashMap::new();
        for (content_id, tag_id) in self.shared.store.all_content_tags().await? {
            if let Some(t) = by_id.get(&tag_id) {
                out.entry(content_id).or_default().push(TagView::from(*t));
            }
        }
        Ok(out)
    }

    /// Puts a tag on an item, with its ancestors; returns the tag.
    pub async fn add_content_tag(&self, key: &str, tag_id: &str) -> Result<TagView> {
        let c = self.library.content(key).await?;
        let tag = self.shared.store.find_tag(parse_id(tag_id)?).await?;
        let tag = tag.ok_or_else(|| Error::Invalid(format!("there is no tag with id {tag_id:?}")))?;
        let all = self.shared.store.list_tags().await?;
        self.shared.store.add_content_tags(c.id, &with_ancestors(&all, tag.id)).await?;
        self.shared.emit(Event::ContentChanged { guid: c.guid });
        Ok(TagView::from(&tag))
    }

    /// Takes a tag off an item, with its descendants. A tag the item does not carry is a 404.
    pub async fn remove_content_tag(&self, key: &str, tag_id: &str) -> Result<()> {
        let c = self.library.content(key).await?;
        let tag = self.tag_row(tag_id).await?;
        let has = self.shared.store.content_tags(c.id).await?;
        if !has.iter().any(|t| t.id == tag.id) {
            return Err(Error::not_found("tag on this content", tag_id));
        }
        let all = self.shared.store.list_tags().await?;
        self.shared.store.remove_content_tags(c.id, &with_descendants(&all, tag.id)).await?;
        self.shared.emit(Event::ContentChanged { guid: c.guid });
        Ok(())
    }

    /// The tag a path names (`finance/quarterly`); with `create`, missing tags along it are
    /// made. Without, a missing one is a 404 naming the path.
    pub async fn tag_by_path(&self, path: &str, create: bool) -> Result<TagView> {
        let parts: Vec<&str> = path.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return Err(Error::Invalid(format!(
                "{path:?} is not a tag: give a name or a path such as finance/quarterly"
            )));
        }
        let mut parent: Option<TagRow> = None;
        for part in parts {
            let name = validate_tag_name(part)?;
            let all = self.shared.store.list_tags().await?;
            let found = all.into_iter().find(|t| t.name == name && t.parent_id == parent.as_ref().map(|p| p.id));
            parent = Some(match found {
                Some(t) => t,
                None if create => {
                    let pid = parent.as_ref().map(|p| p.id.to_string());
                    let made = self.create_tag(&name, pid.as_deref()).await?;
                    self.tag_row(&made.id).await?
                }
                None => return Err(Error::not_found("tag", path)),
            });
        }
        parent.map(|t| TagView::from(&t)).ok_or_else(|| Error::not_found("tag", path))
    }

    /// Each tag's path, by tag id (as strings, as the API shows ids).
    pub async fn tag_paths(&self) -> Result<HashMap<String, String>> {
        let all = self.shared.store.list_tags().await?;
        Ok(paths_by_id(&all).into_iter().map(|(id, p)| (id.to_string(), p)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(id: i64, name: &str, parent: Option<i64>) -> TagRow {
        TagRow { id, name: name.into(), parent_id: parent, created_time: String::new(), updated_time: String::new() }
    }

    #[test]
    fn paths_ancestors_and_descendants() {
        let all = [tag(1, "finance", None), tag(2, "quarterly", Some(1)), tag(3, "q3", Some(2)), tag(4, "ops", None)];
        let paths = paths_by_id(&all);
        assert_eq!(paths[&3], "finance/quarterly/q3");
        assert_eq!(paths[&4], "ops");
        assert_eq!(with_ancestors(&all, 3), [3, 2, 1]);
        assert_eq!(with_descendants(&all, 1), [1, 2, 3]);
        assert_eq!(with_descendants(&all, 4), [4]);
    }

    #[test]
    fn tag_names_are_checked() {
        assert_eq!(validate_tag_name("  Finance ").expect("ok"), "Finance");
        assert!(validate_tag_name("").is_err());
        assert!(validate_tag_name("a/b").is_err());
        assert!(validate_tag_name(&"x".repeat(101)).is_err());
        assert!(validate_tag_name("tab\there").is_err());
    }
}
