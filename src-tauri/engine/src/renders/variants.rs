//! Variants: named parameter sets of a rendered item (Quarto `-P`, papermill-style notebook
//! parameters, R Markdown `params`).
//!
//! The item itself is the default variant: its renders use the document's own defaults and
//! are what `/content/{guid}/` serves. Each named variant renders with its parameters into
//! its own history, has its own current output at `/content/{guid}/_variant{id}/`, and its
//! own schedules; renders of one variant never replace another's output. Deleting a variant
//! deletes its renders and schedules and nothing else.

use serde_json::{json, Value};

use super::render::Params;
use super::Renders;
use crate::error::{Error, Result};
use crate::store::{ContentRow, VariantRow};
use serde::Serialize;

/// A named parameter set of a document, as `GET /v1/content/{guid}/variants` lists it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariantView {
    /// Variant id (a string, as Connect's ids are).
    pub id: String,
    /// The item's guid.
    pub content_guid: String,
    /// Its name.
    pub name: String,
    /// The parameters, name to value.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub parameters: serde_json::Map<String, Value>,
    /// The render its viewers see, if any.
    pub render_id: Option<String>,
    /// Its own viewer URL, `/content/{guid}/_variant{id}/`.
    pub url: String,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
}

/// The longest variant name.
const MAX_NAME: usize = 100;

/// Checks a variant name: 1-100 characters, not blank, no control characters, not `default`.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("name: a variant needs a name".into()));
    }
    if name.chars().count() > MAX_NAME {
        return Err(Error::Invalid(format!("name: at most {MAX_NAME} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid("name: control characters are not allowed".into()));
    }
    // Connect's v0 listing names the item itself `default`; a second one would be ambiguous.
    if name.eq_ignore_ascii_case("default") {
        return Err(Error::Invalid(
            "name: \"default\" is the document itself, with its own parameters; choose another name".into(),
        ));
    }
    Ok(name.to_string())
}

/// Checks parameters: a JSON object whose keys are identifiers every engine accepts
/// (a letter or `_`, then letters, digits or `_`), with any JSON values.
pub fn validate_parameters(v: &Value) -> Result<Params> {
    let Value::Object(map) = v else {
        return Err(Error::Invalid(format!("parameters: an object of name: value pairs, not {v}")));
    };
    for k in map.keys() {
        let mut chars = k.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Invalid(format!(
                "parameters: {k:?} is not a parameter name (use letters, digits and _, starting with a letter)"
            )));
        }
    }
    Ok(map.clone())
}

/// A stored variant's parameters (an empty set if the stored text is somehow not an object).
pub(crate) fn parameters(stored: &str) -> Params {
    match serde_json::from_str(stored) {
        Ok(Value::Object(map)) => map,
        _ => Params::new(),
    }
}

/// A JSON value as a Python literal.
fn py_literal(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        // JSON string escapes (\", \\, \n, \uXXXX, ...) are valid in Python string literals.
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(py_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), py_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn has_tag(cell: &Value, tag: &str) -> bool {
    cell.pointer("/metadata/tags").and_then(Value::as_array).is_some_and(|tags| tags.iter().any(|t| t == tag))
}

/// Inserts a code cell assigning `params` after the notebook's `parameters` cell (first if
/// it has none), as papermill does; an earlier injected cell is replaced.
pub(crate) fn inject_parameters(nb: &mut Value, params: &Params) -> Result<()> {
    let cells = nb
        .get_mut("cells")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::Invalid("the notebook has no cells list".into()))?;
    cells.retain(|c| !has_tag(c, "injected-parameters"));
    let with_ids = cells.iter().any(|c| c.get("id").is_some());
    let at = cells.iter().position(|c| has_tag(c, "parameters")).map(|i| i + 1).unwrap_or(0);
    let mut source = String::from("# Parameters\n");
    for (k, v) in params {
        source.push_str(&format!("{k} = {}\n", py_literal(v)));
    }
    let mut cell = json!({
        "cell_type": "code",
        "execution_count": null,
        "metadata": {"tags": ["injected-parameters"]},
        "outputs": [],
        "source": source,
    });
    if with_ids {
        cell["id"] = json!("injected-parameters");
    }
    cells.insert(at, cell);
    Ok(())
}

impl Renders {
    /// A variant as the API shows it.
    pub fn variant_view(&self, v: &VariantRow, guid: &str) -> VariantView {
        VariantView {
            id: v.id.to_string(),
            content_guid: guid.to_string(),
            name: v.name.clone(),
            parameters: parameters(&v.parameters),
            render_id: v.render_id.map(|id| id.to_string()),
            url: format!("{}/content/{guid}/_variant{}/", self.shared.default_origin(), v.id),
            created_time: v.created_time.clone(),
            updated_time: v.updated_time.clone(),
        }
    }

    /// An item's variants as Connect's v0 API lists them (`GET /applications/{guid}/variants`):
    /// the default variant (the item itself, made on first use) first, with `is_default`,
    /// then the named ones. Ids are Porch's own variant ids, one id space for both.
    pub async fn v0_variants(&self, key: &str) -> Result<Vec<Value>> {
        let c = self.library.content(key).await?;
        let default = self.shared.store.default_variant(c.id, &crate::time::now()).await?;
        let named = self.shared.store.variants(c.id).await?;
        let view = |v: &VariantRow, is_default: bool| {
            json!({
                "id": v.id,
                "app_id": c.id,
                "app_guid": c.guid,
                "key": format!("v{}", v.id),
                "bundle_id": c.bundle_id,
                "is_default": is_default,
                "name": if is_default { "default" } else { v.name.as_str() },
                "email_collaborators": false,
                "email_viewers": false,
                "created_time": v.created_time,
                "rendering_id": if is_default { c.render_id } else { v.render_id },
                "visibility": "public",
            })
        };
        let mut out = vec![view(&default, true)];
        out.extend(named.iter().map(|v| view(v, false)));
        Ok(out)
    }

    /// Starts a render of the variant `id` (the default variant renders the item itself, as
    /// `POST /v1/content/{guid}/render` does); returns the task id.
    pub async fn render_variant_by_id(&self, id: i64, trigger: crate::vocab::Trigger) -> Result<String> {
        let (v, is_default) =
            self.shared.store.any_variant(id).await?.ok_or_else(|| Error::not_found("variant", id))?;
        let c = self.library.content(&v.content_id.to_string()).await?;
        self.render_variant_now(&c.guid, (!is_default).then_some(v.id), trigger).await
    }

    /// An item's variants.
    pub async fn variants(&self, key: &str) -> Result<Vec<VariantRow>> {
        let c = self.library.content(key).await?;
        self.shared.store.variants(c.id).await
    }

    /// One variant of an item, found by id or by name.
    pub async fn variant(&self, key: &str, variant: &str) -> Result<VariantRow> {
        let c = self.library.content(key).await?;
        if let Ok(id) = variant.parse::<i64>() {
            if let Ok(v) = self.variant_of(&c, id).await {
                return Ok(v);
            }
        }
        self.shared
            .store
            .variants(c.id)
            .await?
            .into_iter()
            .find(|v| v.name == variant)
            .ok_or_else(|| Error::not_found("variant", variant))
    }

    /// A variant that must belong to `c`.
    pub(crate) async fn variant_of(&self, c: &ContentRow, id: i64) -> Result<VariantRow> {
        match self.shared.store.variant(id).await {
            Ok(v) if v.content_id == c.id => Ok(v),
            Ok(_) | Err(Error::NotFound { .. }) => Err(Error::not_found("variant", id)),
            Err(e) => Err(e),
        }
    }

    /// Adds a named parameter set to a rendered item.
    pub async fn create_variant(&self, key: &str, name: &str, params: &Value) -> Result<VariantRow> {
        let c = self.library.content(key).await?;
        if crate::runtime_kind(&c.app_mode) != crate::RuntimeKind::Rendered {
            return Err(Error::Invalid(format!(
                "{} is {} content; only rendered documents (notebooks, Quarto, R Markdown) take parameters",
                c.name, c.app_mode
            )));
        }
        let name = validate_name(name)?;
        let params = validate_parameters(params)?;
        let id = self
            .shared
            .store
            .insert_variant(c.id, &name, &Value::Object(params).to_string(), &crate::time::now())
            .await?;
        self.shared.store.variant(id).await
    }

    /// Renames a variant and/or replaces its parameters.
    pub async fn update_variant(
        &self,
        key: &str,
        id: i64,
        name: Option<&str>,
        params: Option<&Value>,
    ) -> Result<VariantRow> {
        let c = self.library.content(key).await?;
        let v = self.variant_of(&c, id).await?;
        let name = match name {
            Some(n) => validate_name(n)?,
            None => v.name.clone(),
        };
        let params = match params {
            Some(p) => Value::Object(validate_parameters(p)?).to_string(),
            None => v.parameters.clone(),
        };
        self.shared.store.update_variant(v.id, &name, &params, &crate::time::now()).await?;
        self.shared.store.variant(v.id).await
    }

    /// Deletes a variant, its renders (with their output) and its schedules.
    pub async fn delete_variant(&self, key: &str, id: i64) -> Result<()> {
        let c = self.library.content(key).await?;
        let v = self.variant_of(&c, id).await?;
        if self.is_rendering(c.id, Some(v.id)) {
            return Err(Error::Conflict(format!(
                "variant {:?} is rendering; delete it when the render has finished",
                v.name
            )));
        }
        let renders = self.shared.store.delete_variant(v.id).await?;
        self.forget_render_files(&renders).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals() {
        let v = json!({"a": [1, 2.5, -3e2], "b": null, "c": true, "d": "it's \"q\"\n\u{e9}"});
        assert_eq!(
            py_literal(&v),
            "{\"a\": [1, 2.5, -300.0], \"b\": None, \"c\": True, \"d\": \"it's \\\"q\\\"\\n\u{e9}\"}"
        );
        assert_eq!(py_literal(&json!(false)), "False");
    }

    #[test]
    fn parameters_go_after_the_parameters_cell_and_replace_an_earlier_injection() {
        let mut nb = json!({"cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Title"},
            {"cell_type": "code", "id": "b", "metadata": {"tags": ["parameters"]}, "source": "region = 'north'"},
            {"cell_type": "code", "id": "old", "metadata": {"tags": ["injected-parameters"]}, "source": "region = 'x'"},
            {"cell_type": "code", "id": "c", "metadata": {}, "source": "print(region)"},
        ]});
        let params = validate_parameters(&json!({"region": "south", "n": 3})).expect("valid");
        inject_parameters(&mut nb, &params).expect("inject");
        let cells = nb["cells"].as_array().expect("cells");
        assert_eq!(cells.len(), 4, "the earlier injected cell is replaced");
        assert_eq!(cells[2]["source"], "# Parameters\nn = 3\nregion = \"south\"\n");
        assert_eq!(cells[2]["id"], "injected-parameters");
        assert_eq!(cells[3]["id"], "c");
    }

    #[test]
    fn without_a_parameters_cell_they_go_first_and_old_notebooks_get_no_ids() {
        let mut nb = json!({"cells": [{"cell_type": "code", "metadata": {}, "source": "print(x)"}]});
        inject_parameters(&mut nb, &validate_parameters(&json!({"x": 1})).expect("valid")).expect("inject");
        assert_eq!(nb["cells"][0]["source"], "# Parameters\nx = 1\n");
        assert!(nb["cells"][0].get("id").is_none());
        assert!(inject_parameters(&mut json!({"nbformat": 4}), &Params::new()).is_err());
    }

    #[test]
    fn bad_names_and_parameters_are_refused_naming_the_field() {
        for bad in [json!([1]), json!("x=1"), json!({"1x": 1}), json!({"a-b": 1}), json!({"": 1}), json!({"é": 1})] {
            let e = validate_parameters(&bad).expect_err("refused").to_string();
            assert!(e.starts_with("parameters:"), "{e}");
        }
        assert!(validate_parameters(&json!({"_a1": {"nested": [1]}})).is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(101), "default", " Default "] {
            assert!(validate_name(bad).expect_err("refused").to_string().starts_with("name:"));
        }
        assert_eq!(validate_name("  South  ").expect("ok"), "South");
    }
}
