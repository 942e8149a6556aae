//! Rules that need more than one argument, and the error collector every
//! stage reports into. The rules themselves live in `verchain-core`, shared
//! with the runtime.

use proc_macro2::TokenStream;

use crate::ast::Shape;
use crate::attr::{ChainArgs, MigrationArgs, Version};

/// Errors collected across parsing and checking, emitted together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// How many errors have been collected.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |e| e.into_iter().count())
    }

    pub fn into_compile_errors(self) -> TokenStream {
        self.0.map(|e| e.to_compile_error()).unwrap_or_default()
    }
}

/// The step's `from` and `to`, checked against each other; a step outside
/// the transaction takes the connection by `&mut`.
pub fn migration(args: &MigrationArgs, shape: Option<&Shape>, errors: &mut Errors) {
    if let (Some(flag), Some(shape)) = (&args.transaction, shape)
        && !flag.value
        && !matches!(shape, Shape::InPlace)
    {
        errors.push(syn::Error::new(
            flag.span,
            "a step with `transaction = false` runs over the database connection itself: \
             `fn(client: &mut Client) -> Result<(), E>` (PostgreSQL chains only)",
        ));
    }
    if let (Some(from), Some(to)) = (&args.from, &args.to)
        && let Err(rule) = verchain_core::check_step(from.value, to.value)
    {
        errors.push(syn::Error::new(to.span(), rule));
    }
}

/// `base` against `current`, and every schema version against both.
pub fn chain(chain_name: &str, args: &ChainArgs, base: &Version, errors: &mut Errors) {
    let Some(current) = &args.current else {
        return;
    };
    if let Err(rule) = verchain_core::check_chain_bounds(chain_name, base.value, current.value) {
        errors.push(syn::Error::new(current.span(), rule));
        return;
    }
    let mut newest: Option<(String, u32)> = None;
    for (name, version) in &args.releases {
        if version.value < base.value || version.value > current.value {
            errors.push(syn::Error::new(
                version.span(),
                format!(
                    "release `{}` ships version {}, outside chain `{chain_name}`, whose versions \
                     run from {} to {}",
                    name.value(),
                    version.value,
                    base.value,
                    current.value,
                ),
            ));
        } else if let Some((before, at)) = &newest
            && version.value < *at
        {
            errors.push(syn::Error::new(
                version.span(),
                format!(
                    "release `{}` ships version {}, older than version {at} of release \
                     `{before}` listed before it; list releases oldest first",
                    name.value(),
                    version.value,
                ),
            ));
        }
        if newest.as_ref().is_none_or(|(_, at)| version.value >= *at) {
            newest = Some((name.value(), version.value));
        }
    }
    for (version, _) in &args.schema {
        if version.value < base.value || version.value > current.value {
            errors.push(syn::Error::new(
                version.span(),
                format!(
                    "schema for version {} is outside chain `{chain_name}`, whose versions run from \
                     {} to {}",
                    version.value, base.value, current.value
                ),
            ));
        }
    }
}
