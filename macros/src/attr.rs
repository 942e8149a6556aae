//! Parsing the arguments of `#[chain(...)]` and `#[migration(...)]`.
//!
//! Every problem is collected and reported at once, each at the span of the
//! argument that caused it.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Lit, LitBool, LitInt, LitStr, Path, Token, Type};

use crate::check::Errors;

/// A version number as written, with its span.
#[derive(Clone)]
pub struct Version {
    pub value: u32,
    pub lit: LitInt,
}

impl Version {
    pub fn span(&self) -> Span {
        self.lit.span()
    }

    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lit: LitInt = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), "expected a version number, such as `1`"))?;
        if !lit.suffix().is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "a version is a plain number: remove the type suffix",
            ));
        }
        let value = lit.base10_parse::<u32>().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!("a version is a whole number from 0 to {}", u32::MAX),
            )
        })?;
        Ok(Version { value, lit })
    }
}

/// The arguments of `#[chain(...)]`.
#[derive(Default)]
pub struct ChainArgs {
    pub base: Option<Version>,
    pub current: Option<Version>,
    pub name: Option<LitStr>,
    pub record: Option<Type>,
    pub version_key: Option<LitStr>,
    pub schema: Vec<(Version, Type)>,
    /// Release names, in the order written, each with the version it ships.
    pub releases: Vec<(LitStr, Version)>,
}

const CHAIN_ARGS: &[&str] = &[
    "base",
    "current",
    "name",
    "record",
    "version_key",
    "schema",
    "release",
];

/// The arguments of `#[migration(...)]`.
#[derive(Default)]
pub struct MigrationArgs {
    pub chain: Option<Path>,
    pub from: Option<Version>,
    pub to: Option<Version>,
    pub down: Option<Path>,
    pub verify: Option<Path>,
    /// `breaking`: readers of the old version cannot read the new one.
    pub breaking: Option<bool>,
    /// `requires_restart = ["service", …]`: what must restart after it.
    pub requires_restart: Option<Vec<LitStr>>,
    /// `backup_required = false`: a run of only such steps may skip the
    /// snapshot.
    pub backup_required: Option<bool>,
    /// `estimate = "5m"`: how long the step takes on a typical store, in
    /// milliseconds.
    pub estimate: Option<u64>,
    /// `transaction = false`: the step runs outside the run's transaction.
    pub transaction: Option<LitBool>,
}

const MIGRATION_ARGS: &[&str] = &[
    "chain",
    "from",
    "to",
    "down",
    "verify",
    "breaking",
    "requires_restart",
    "backup_required",
    "estimate",
    "transaction",
];

/// Stores `value` in `slot`, or reports a duplicate at `meta`'s span.
fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    meta: &ParseNestedMeta,
    expected: &[&str],
    errors: &mut Errors,
) {
    if slot.is_some() {
        errors.push(meta.error(format!(
            "duplicate argument `{}`: give it once; the arguments are {}",
            meta.path.get_ident().map(ToString::to_string).unwrap_or_default(),
            listed(expected)
        )));
    } else {
        *slot = Some(value);
    }
}

/// Consumes whatever value follows an argument that was rejected, so parsing
/// can go on and report the other arguments too.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        meta.input.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

fn unknown(meta: &ParseNestedMeta, expected: &[&str], errors: &mut Errors) -> syn::Result<()> {
    let name = quote::ToTokens::to_token_stream(&meta.path)
        .to_string()
        .replace(' ', "");
    let list = listed(expected);
    let hint = expected
        .iter()
        .find(|e| edit_distance(e, &name) <= 2)
        .map(|e| format!(" (did you mean `{e}`?)"))
        .unwrap_or_default();
    errors.push(meta.error(format!(
        "unknown argument `{name}`{hint}; expected one of {list}"
    )));
    skip_value(meta)
}

/// `a`, `b`, `c`, as an error message lists arguments.
fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, for suggesting the argument a typo meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The key of an argument, as messages name it.
fn key_of(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A yes-or-no argument: `key` alone (yes), or `key = true` / `key = false`.
/// A value of another kind is reported and read as `None`.
fn flag(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<bool>> {
    if !meta.input.peek(Token![=]) {
        return Ok(Some(true));
    }
    let value: Expr = meta.value()?.parse()?;
    match &value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(Some(b.value)),
        other => {
            let key = key_of(meta);
            errors.push(syn::Error::new_spanned(
                other,
                format!("`{key}` is `true` or `false` (or `{key}` alone, for true)"),
            ));
            Ok(None)
        }
    }
}

/// `requires_restart = ["service", …]`: non-empty, distinct names.
fn services(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Vec<LitStr>>> {
    const SHAPE: &str = "`requires_restart` lists the services to restart after the step, \
                         as strings: `requires_restart = [\"api\", \"worker\"]`";
    let value: Expr = meta.value()?.parse()?;
    let Expr::Array(array) = &value else {
        errors.push(syn::Error::new_spanned(&value, SHAPE));
        return Ok(None);
    };
    let mut names: Vec<LitStr> = Vec::new();
    let before = errors.len();
    for element in &array.elems {
        match element {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(name),
                ..
            }) => {
                let text = name.value();
                if text.trim().is_empty() {
                    errors.push(syn::Error::new(
                        name.span(),
                        "a service to restart needs a name; remove the empty string",
                    ));
                } else if names.iter().any(|n| n.value() == text) {
                    errors.push(syn::Error::new(
                        name.span(),
                        format!("service `{text}` is listed twice in `requires_restart`"),
                    ));
                } else {
                    names.push(name.clone());
                }
            }
            other => errors.push(syn::Error::new_spanned(other, SHAPE)),
        }
    }
    Ok((errors.len() == before).then_some(names))
}

/// `estimate = "5m"`, in milliseconds.
fn estimate(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<u64>> {
    let value: Expr = meta.value()?.parse()?;
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &value
    else {
        errors.push(syn::Error::new_spanned(
            &value,
            "`estimate` is a duration in quotes, such as `estimate = \"5m\"` (units `ms`, \
             `s`, `m`, `h`)",
        ));
        return Ok(None);
    };
    match verchain_core::parse_estimate(&text.value()) {
        Ok(d) => Ok(Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))),
        Err(e) => {
            errors.push(syn::Error::new(text.span(), e));
            Ok(None)
        }
    }
}

/// `release("0.1.0" = 1, "0.2.0" = 3)`: each name with the version it
/// ships; the names are checked here, the versions with the chain's bounds.
fn releases(meta: &ParseNestedMeta, args: &mut ChainArgs, errors: &mut Errors) -> syn::Result<()> {
    let content;
    syn::parenthesized!(content in meta.input);
    let entries =
        Punctuated::<(LitStr, Version), Token![,]>::parse_terminated_with(&content, |input| {
            if !input.peek(LitStr) {
                return Err(input.error(
                    "a release is a name in quotes and the version it ships: \
                     `release(\"0.2.0\" = 3)`",
                ));
            }
            let name: LitStr = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok((name, Version::parse(input)?))
        })?;
    for (name, version) in entries {
        let text = name.value();
        if let Err(rule) = verchain_core::check_release_name(&text) {
            errors.push(syn::Error::new(name.span(), rule));
        } else if args.releases.iter().any(|(n, _)| n.value() == text) {
            errors.push(syn::Error::new(
                name.span(),
                format!("release `{text}` is named twice; give each release once"),
            ));
        } else {
            args.releases.push((name, version));
        }
    }
    Ok(())
}

impl ChainArgs {
    /// Parses every `#[chain(...)]` attribute; reports one missing `current`.
    pub fn from_attrs(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut args = ChainArgs::default();
        let mut seen = false;
        let before = errors.len();
        for attr in attrs.iter().filter(|a| a.path().is_ident("chain")) {
            seen = true;
            let parsed = attr.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(ToString::to_string);
                match key.as_deref() {
                    Some("base") => {
                        let v = Version::parse(meta.value()?)?;
                        set_once(&mut args.base, v, &meta, CHAIN_ARGS, errors);
                    }
                    Some("current") => {
                        let v = Version::parse(meta.value()?)?;
                        set_once(&mut args.current, v, &meta, CHAIN_ARGS, errors);
                    }
                    Some("name") => {
                        let v: LitStr = meta.value()?.parse()?;
                        set_once(&mut args.name, v, &meta, CHAIN_ARGS, errors);
                    }
                    Some("record") => {
                        let v: Type = meta.value()?.parse()?;
                        set_once(&mut args.record, v, &meta, CHAIN_ARGS, errors);
                    }
                    Some("version_key") => {
                        let v: LitStr = meta.value()?.parse()?;
                        if v.value().is_empty() {
                            errors.push(syn::Error::new(
                                v.span(),
                                "`version_key` names the key that holds a record's version; \
                                 it cannot be empty",
                            ));
                        }
                        set_once(&mut args.version_key, v, &meta, CHAIN_ARGS, errors);
                    }
                    Some("schema") => {
                        let content;
                        syn::parenthesized!(content in meta.input);
                        let entries =
                            Punctuated::<(Version, Type), Token![,]>::parse_terminated_with(
                                &content,
                                |input| {
                                    let version = Version::parse(input)?;
                                    input.parse::<Token![=]>()?;
                                    Ok((version, input.parse::<Type>()?))
                                },
                            )?;
                        for (version, ty) in entries {
                            if args.schema.iter().any(|(v, _)| v.value == version.value) {
                                errors.push(syn::Error::new(
                                    version.span(),
                                    format!(
                                        "duplicate schema for version {}: give one type per \
                                         version",
                                        version.value
                                    ),
                                ));
                            } else {
                                args.schema.push((version, ty));
                            }
                        }
                    }
                    Some("release") => releases(&meta, &mut args, errors)?,
                    _ => unknown(&meta, CHAIN_ARGS, errors)?,
                }
                Ok(())
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
        if !seen {
            errors.push(syn::Error::new(
                Span::call_site(),
                "a chain needs its versions: add `#[chain(base = 1, current = N)]` below \
                 `#[derive(Chain)]`",
            ));
        } else if args.current.is_none() && errors.len() == before {
            let span = attrs
                .iter()
                .find(|a| a.path().is_ident("chain"))
                .map_or_else(Span::call_site, |a| syn::spanned::Spanned::span(a.path()));
            errors.push(syn::Error::new(
                span,
                "missing argument `current`: the chain's newest version, such as \
                 `#[chain(base = 1, current = 3)]`",
            ));
        }
        args
    }
}

impl MigrationArgs {
    /// Parses the attribute's arguments; reports every missing required one.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = MigrationArgs::default();
        let before = errors.len();
        let parser = syn::meta::parser(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string);
            match key.as_deref() {
                Some("chain") => {
                    let v: Path = meta.value()?.parse()?;
                    set_once(&mut args.chain, v, &meta, MIGRATION_ARGS, errors);
                }
                Some("from") => {
                    let v = Version::parse(meta.value()?)?;
                    set_once(&mut args.from, v, &meta, MIGRATION_ARGS, errors);
                }
                Some("to") => {
                    let v = Version::parse(meta.value()?)?;
                    set_once(&mut args.to, v, &meta, MIGRATION_ARGS, errors);
                }
                Some("down") => {
                    let v: Path = meta.value()?.parse()?;
                    set_once(&mut args.down, v, &meta, MIGRATION_ARGS, errors);
                }
                Some("verify") => {
                    let v: Path = meta.value()?.parse()?;
                    set_once(&mut args.verify, v, &meta, MIGRATION_ARGS, errors);
                }
                Some("breaking") => {
                    if let Some(v) = flag(&meta, errors)? {
                        set_once(&mut args.breaking, v, &meta, MIGRATION_ARGS, errors);
                    }
                }
                Some("backup_required") => {
                    if let Some(v) = flag(&meta, errors)? {
                        set_once(&mut args.backup_required, v, &meta, MIGRATION_ARGS, errors);
                    }
                }
                Some("requires_restart") => {
                    if let Some(v) = services(&meta, errors)? {
                        set_once(&mut args.requires_restart, v, &meta, MIGRATION_ARGS, errors);
                    }
                }
                Some("estimate") => {
                    if let Some(v) = estimate(&meta, errors)? {
                        set_once(&mut args.estimate, v, &meta, MIGRATION_ARGS, errors);
                    }
                }
                Some("transaction") => {
                    let value = meta.value()?;
                    let v: LitBool = value.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "expected `true` or `false`: `transaction = false` runs the step \
                             outside the run's transaction",
                        )
                    })?;
                    set_once(&mut args.transaction, v, &meta, MIGRATION_ARGS, errors);
                }
                _ => unknown(&meta, MIGRATION_ARGS, errors)?,
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(tokens) {
            errors.push(e);
        }
        if errors.len() > before {
            // A typo or an unparsable value already explains what is missing.
            return args;
        }
        let mut missing = Vec::new();
        if args.chain.is_none() {
            missing.push("`chain = ChainType`");
        }
        if args.from.is_none() {
            missing.push("`from = N`");
        }
        if args.to.is_none() {
            missing.push("`to = N + 1`");
        }
        if !missing.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                format!(
                    "missing {}: a migration is written \
                     `#[migration(chain = Notes, from = 1, to = 2)]`",
                    missing.join(", ")
                ),
            ));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn typos_are_close() {
        assert_eq!(edit_distance("form", "from"), 2);
        assert_eq!(edit_distance("curent", "current"), 1);
        assert_eq!(edit_distance("chain", "chain"), 0);
        assert!(edit_distance("verify", "from") > 2);
    }
}
