//! Procedural macros of verchain: the chain declaration and the migration
//! attribute. Use them through the `verchain` crate, which re-exports them.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro::TokenStream;

/// Declares a migration chain: `#[derive(Chain)] #[chain(base = 1, current = 3)]`.
///
/// See the `verchain` crate for the arguments.
#[proc_macro_derive(Chain, attributes(chain))]
pub fn derive_chain(input: TokenStream) -> TokenStream {
    expand::chain(input.into()).into()
}

/// Declares one step of a chain: `#[migration(chain = Notes, from = 1, to = 2)]`.
///
/// See the `verchain` crate for the arguments and accepted signatures.
#[proc_macro_attribute]
pub fn migration(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::migration(args.into(), item.into()).into()
}
