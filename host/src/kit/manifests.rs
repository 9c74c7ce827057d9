//! A case's manifest set: Kubernetes objects keyed by (kind, namespace, name), which steps add,
//! replace and delete, and which the kit loads with ferrolb's configuration loader.

use ferrolb_config::{Model, Source};
use serde::Deserialize;
use serde_norway::Value;

/// The objects of a case, in the order they were first given.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    docs: Vec<(String, Value)>,
}

fn key_of(doc: &Value) -> Result<String, String> {
    let field = |path: &[&str]| -> Option<String> {
        let mut v = doc;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_str().map(str::to_string)
    };
    let kind = field(&["kind"]).ok_or("an object without `kind`")?;
    let name = field(&["metadata", "name"]).ok_or_else(|| format!("a {kind} without metadata.name"))?;
    let ns = field(&["metadata", "namespace"]).unwrap_or_default();
    Ok(if ns.is_empty() { format!("{kind}/{name}") } else { format!("{kind}/{ns}/{name}") })
}

fn parse_docs(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for d in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(d).map_err(|e| format!("invalid YAML: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

impl Manifests {
    /// The objects of a multi-document YAML text.
    pub fn parse(text: &str) -> Result<Manifests, String> {
        let mut m = Manifests::default();
        m.apply(text)?;
        Ok(m)
    }

    /// Add or replace (by kind, namespace, name) the objects of a multi-document YAML text.
    pub fn apply(&mut self, text: &str) -> Result<(), String> {
        for doc in parse_docs(text)? {
            let key = key_of(&doc)?;
            match self.docs.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = doc,
                None => self.docs.push((key, doc)),
            }
        }
        Ok(())
    }

    /// Remove objects named `Kind/namespace/name` (or `Kind/name` for cluster-scoped ones).
    pub fn delete(&mut self, keys: &[String]) -> Result<(), String> {
        for key in keys {
            let before = self.docs.len();
            self.docs.retain(|(k, _)| k != key);
            if self.docs.len() == before {
                return Err(format!("delete: no object {key}"));
            }
        }
        Ok(())
    }

    /// Load the objects with ferrolb's configuration loader.
    ///
    /// Manifests the validator refuses still give a model (the loader's `unchecked` one), so that
    /// cases can show a plugin input the host would never send: a plugin must refuse bad input by
    /// itself. The loader's errors come back beside it, for failure messages.
    pub fn load(&self) -> Result<(Model, Vec<String>), String> {
        let mut text = String::new();
        for (_, doc) in &self.docs {
            let yaml = serde_norway::to_string(doc).map_err(|e| e.to_string())?;
            text.push_str("---\n");
            text.push_str(&yaml);
        }
        let result = ferrolb_config::load(&[Source::Text { name: "case".into(), text }]);
        let errors: Vec<String> = result.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        match (result.model, result.unchecked) {
            (Some(m), _) => Ok((m, errors)),
            (None, Some(m)) => Ok((m, errors)),
            (None, None) => Err(format!("the manifests do not load: {}", errors.join("; "))),
        }
    }
}
