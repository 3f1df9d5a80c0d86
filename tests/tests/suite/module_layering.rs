//! Each crate's modules import each other without a ring, and origin's folders stack as layers.
//!
//! A ring of imports is what makes a crate hard to change: no module in it can be understood,
//! tested or moved without the others. This test reads every file of `api/src`, `edge/src` and
//! `origin/src`, collects what each one names of its crate (`use crate::...`, `super::...`,
//! paths in code and in macro arguments), resolves each name to the file that defines that
//! module, and fails on any set of files that reach each other. It then folds each file into
//! its top-level folder (`purchase/engine.rs` into `purchase`; `lib.rs` stays the crate root)
//! and fails on any set of folders that reach each other: a folder is a layer, and a layer may
//! only use the ones below it.
//!
//! Edges into origin's `app/state.rs`, which defines `AppState`, are the one allowance: every
//! handler and extractor takes the state, and the state holds what the features run.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// The module that defines `AppState`: edges into it are allowed.
const STATE_MODULE: &str = "app::state";

#[test]
fn api_files_import_each_other_without_a_ring() {
    assert_no_rings("api files", &file_graph("api"));
}

#[test]
fn edge_files_import_each_other_without_a_ring() {
    assert_no_rings("edge files", &file_graph("edge"));
}

#[test]
fn origin_files_import_each_other_without_a_ring() {
    assert_no_rings("origin files", &file_graph("origin"));
}

#[test]
fn api_folders_stack_as_layers() {
    assert_no_rings("api folders", &folder_graph(&file_graph("api")));
}

#[test]
fn edge_folders_stack_as_layers() {
    assert_no_rings("edge folders", &folder_graph(&file_graph("edge")));
}

#[test]
fn origin_folders_stack_as_layers() {
    let folders = folder_graph(&file_graph("origin"));
    // The two ends of the stack, so a rename cannot turn this check into one of nothing.
    for layer in ["web", "app"] {
        assert!(
            folders.contains_key(layer),
            "origin has no `{layer}` folder"
        );
    }
    let above_app: Vec<&String> = folders
        .iter()
        .filter(|(folder, uses)| !folder.is_empty() && uses.contains("app"))
        .map(|(folder, _)| folder)
        .collect();
    assert!(
        above_app.is_empty(),
        "folders that use the composition layer `app` beyond its state: {above_app:?}"
    );
    assert_no_rings("origin folders", &folders);
}

/// Which modules of `crate_dir/src` each module imports (itself and the state left out).
fn file_graph(crate_dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let modules = modules_of(&src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let syntax = syn::parse_file(&text).expect("parse a source file");
        let mut names = Names::default();
        names.visit_file(&syntax);
        let targets = names
            .paths
            .iter()
            .filter_map(|path| resolve(module, path, &modules))
            .filter(|target| target != module && target != STATE_MODULE)
            .collect();
        graph.insert(module.clone(), targets);
    }
    assert!(
        graph.values().any(|targets| !targets.is_empty()),
        "the scan of {crate_dir} found no imports at all: the test reads the wrong folder"
    );
    graph
}

/// The file graph with every module folded into its top-level folder (or file).
fn folder_graph(files: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |module: &str| module.split("::").next().unwrap_or_default().to_owned();
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in files {
        let uses = folders.entry(top(from)).or_default();
        uses.extend(
            targets
                .iter()
                .map(|target| top(target))
                .filter(|target| *target != top(from)),
        );
    }
    folders
}

fn assert_no_rings(what: &str, graph: &BTreeMap<String, BTreeSet<String>>) {
    let rings: Vec<Vec<String>> = strongly_connected(graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect();
    let report: Vec<String> = rings
        .iter()
        .map(|ring| {
            let edges: Vec<String> = ring
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| ring.contains(to))
                        .map(move |to| format!("    {} -> {to}", shown(from)))
                })
                .collect();
            format!("  ring of {}:\n{}", ring.len(), edges.join("\n"))
        })
        .collect();
    assert!(
        rings.is_empty(),
        "{what} that import each other (directly or in a ring):\n{}",
        report.join("\n")
    );
}

#[test]
fn a_ring_is_found_when_there_is_one() {
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("d".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    let rings: Vec<_> = strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    assert_eq!(
        rings,
        vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
}

#[test]
fn folders_that_use_each_other_through_files_form_a_ring() {
    // No file ring: x::a -> y::b -> x::c. The folders x and y still use each other.
    let files = BTreeMap::from([
        ("x::a".to_owned(), BTreeSet::from(["y::b".to_owned()])),
        ("y::b".to_owned(), BTreeSet::from(["x::c".to_owned()])),
        ("x::c".to_owned(), BTreeSet::new()),
    ]);
    let rings: Vec<_> = strongly_connected(&folder_graph(&files))
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    assert_eq!(rings, vec![vec!["x".to_owned(), "y".to_owned()]]);
}

fn shown(module: &str) -> &str {
    if module.is_empty() {
        "crate (lib.rs)"
    } else {
        module
    }
}

/// Every module of the library (not `main.rs`, a separate crate) by path (`purchase::engine`,
/// the root is ``), with its file.
fn modules_of(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut modules = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let mut parts: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts == ["main"] {
                continue;
            }
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            modules.insert(parts.join("::"), path);
        }
    }
    modules
}

/// Resolves a path named in `module` to the deepest module it reaches, if it is the crate's.
fn resolve(module: &str, path: &[String], modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let here: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (Vec<&str>, &[String]) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (here.clone(), &path[1..]),
        "super" => {
            let mut base = here.clone();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A child module named without a prefix (`mod engine; use engine::...`).
        first => {
            let child = here
                .iter()
                .copied()
                .chain([first])
                .collect::<Vec<_>>()
                .join("::");
            if !modules.contains_key(&child) {
                return None;
            }
            (here.clone(), path)
        }
    };
    let mut reached = base.join("::");
    for segment in rest {
        base.push(segment);
        let candidate = base.join("::");
        if !modules.contains_key(&candidate) {
            break;
        }
        reached = candidate;
    }
    Some(reached)
}

/// Every path a file names: `use` trees expanded, paths in code, and `crate`/`super` paths in
/// macro arguments (which the parser keeps as tokens).
#[derive(Default)]
struct Names {
    paths: Vec<Vec<String>>,
    /// How deep inside inline `mod name { ... }` blocks the visit is: there `super` first
    /// leaves those blocks, not the file's module.
    inline_depth: usize,
}

impl Names {
    /// Records `path` as named at file level: `super`s that only leave inline blocks go.
    fn record(&mut self, mut path: Vec<String>) {
        let mut depth = self.inline_depth;
        while depth > 0 && path.first().map(String::as_str) == Some("super") {
            path.remove(0);
            depth -= 1;
        }
        if depth > 0 && path.first().map(String::as_str) == Some("self") {
            return;
        }
        self.paths.push(path);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.push_with(prefix, &n.ident),
            syn::UseTree::Rename(r) => self.push_with(prefix, &r.ident),
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn push_with(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(ident.to_string());
        }
        self.record(path);
    }

    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Ident(ident) if ident == "crate" || ident == "super" => {
                    let mut path = vec![ident.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(TokenTree::Punct(a)),
                        Some(TokenTree::Punct(b)),
                        Some(TokenTree::Ident(next)),
                    ) = (trees.get(j), trees.get(j + 1), trees.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        path.push(next.to_string());
                        j += 3;
                    }
                    self.record(path);
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    // `pub(super)` and `pub(in crate::x)` restrict visibility; they import nothing.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.inline_depth += 1;
        syn::visit::visit_item_mod(self, item);
        self.inline_depth -= 1;
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.record(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta {
            self.tokens(list.tokens.clone());
        }
        syn::visit::visit_attribute(self, attr);
    }
}

/// Tarjan's strongly connected components, each sorted, in a stable order.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, node: &'g str) {
            let next = self.index.len();
            self.index.insert(node, next);
            self.low.insert(node, next);
            self.stack.push(node);
            self.on_stack.insert(node);
            for target in self.graph.get(node).into_iter().flatten() {
                let target = target.as_str();
                if !self.index.contains_key(target) {
                    self.visit(target);
                    let low = self.low[node].min(self.low[target]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(target) {
                    let low = self.low[node].min(self.index[target]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                component.sort();
                self.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.found.sort();
    walk.found
}
