//! Code generation for `#[derive(Chain)]` and `#[migration]`.
//!
//! The chain is checked by the trait system: each migration implements
//! `OnlyOneStepTo<to>` for its chain and requires `Reaches<from>` and
//! `NotPastCurrent<to>`; the chain implements `Reaches<base>` (every
//! `OnlyOneStepTo<v>` implies `Reaches<v>`) and `NotPastCurrent<v>` for every
//! version, and lists its steps as `<C as OnlyOneStepTo<v>>::step()` for `v`
//! in `base + 1..=current`. A gap, a fork or a step past `current` is then an
//! unsatisfied bound or a conflicting impl, spanned on the argument that
//! causes it.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, ItemFn, LitInt};

use crate::ast::StepFn;
use crate::attr::{ChainArgs, MigrationArgs, Version};
use crate::check::{self, Errors};

fn version(v: u32, span: Span) -> Literal {
    let mut lit = Literal::u32_unsuffixed(v);
    lit.set_span(span);
    lit
}

/// Expands `#[derive(Chain)]`.
pub fn chain(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new(
            input.generics.span(),
            "a migration chain is a marker type without generic parameters, such as \
             `pub struct Notes;`",
        ));
    }
    let args = ChainArgs::from_attrs(&input.attrs, &mut errors);
    let ident = &input.ident;
    let name = args
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), syn::LitStr::value);
    let base = args.base.clone().unwrap_or(Version {
        value: 1,
        lit: LitInt::new("1", ident.span()),
    });
    check::chain(&name, &args, &base, &mut errors);
    let Some(current) = args.current.as_ref().filter(|_| errors.is_empty()) else {
        return errors.into_compile_errors();
    };

    let record = args.record.as_ref().map_or_else(
        || quote!(::verchain::__private::Document),
        ToTokens::to_token_stream,
    );
    let version_key = args
        .version_key
        .as_ref()
        .map_or_else(|| "schema_version".to_owned(), syn::LitStr::value);
    let (base_lit, current_lit) = (base.lit.clone(), current.lit.clone());
    let type_name = ident.to_string();
    // The chain's own name, located at `current`, so that a missing step is
    // reported there.
    let chain_at_current = Ident::new(&ident.to_string(), current.span());
    let steps = (base.value..current.value).map(|v| {
        let v = version(v + 1, current.span());
        quote_spanned! {current.span()=>
            <#chain_at_current as ::verchain::__private::OnlyOneStepTo<#v>>::step()
        }
    });
    let declares = (base.value..=current.value).map(|v| {
        let v = version(v, Span::call_site());
        quote!(impl ::verchain::__private::NotPastCurrent<#v> for #ident {})
    });
    let releases = args.releases.iter().map(|(name, v)| {
        let lit = &v.lit;
        quote!((#name, #lit))
    });
    let schema_arms = args.schema.iter().map(|(v, ty)| {
        let lit = &v.lit;
        quote_spanned! {ty.span()=>
            #lit => ::core::option::Option::Some(
                ::verchain::__private::check_schema::<#ty, Self::Record>(record)
            ),
        }
    });

    quote! {
        const _: () = {
            impl ::verchain::__private::Chain for #ident {
                type Record = #record;
                const NAME: &'static str = #name;
                const BASE: u32 = #base_lit;
                const CURRENT: u32 = #current_lit;
                const VERSION_KEY: &'static str = #version_key;
                const SOURCE_FILE: &'static str = ::core::file!();
                const TYPE_NAME: &'static str = #type_name;
                const RELEASES: &'static [(&'static str, u32)] = &[#(#releases),*];

                fn steps() -> ::std::vec::Vec<::verchain::__private::Step<Self::Record>> {
                    ::std::vec::Vec::from([#(#steps),*])
                }

                fn check_schema(
                    version: u32,
                    record: &Self::Record,
                ) -> ::core::option::Option<::core::result::Result<(), ::verchain::__private::BoxError>> {
                    #[allow(unreachable_patterns)]
                    match version {
                        #(#schema_arms)*
                        _ => ::core::option::Option::None,
                    }
                }
            }
            impl ::verchain::__private::Reaches<#base_lit> for #ident {}
            #(#declares)*
        };
    }
}

/// Expands `#[migration(...)]`: the function unchanged, then its step.
///
/// When the arguments or the signature are wrong, the errors come with the
/// function and, where the chain and `from` are known, a placeholder step, so
/// one mistake is one error and not also a gap in the chain.
pub fn migration(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = MigrationArgs::parse(args, &mut errors);
    let step = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item) => Some(StepFn::parse(item, &mut errors)),
        Err(_) => {
            errors.push(syn::Error::new(
                Span::call_site(),
                "#[migration] goes on a function, such as \
                 `fn add_status(doc: &mut Document) -> Result<(), Error>`",
            ));
            None
        }
    };
    check::migration(
        &args,
        step.as_ref().and_then(|s| s.shape.as_ref()),
        &mut errors,
    );
    match (&args.chain, &args.from, &args.to, &step) {
        (
            Some(chain),
            Some(from),
            Some(to),
            Some(
                step @ StepFn {
                    shape: Some(shape), ..
                },
            ),
        ) if errors.is_empty() => step_impl(&args, chain, from, to, step, shape),
        _ => {
            let placeholder = args.chain.as_ref().and_then(|chain| {
                let to = match (&args.from, &args.to) {
                    (Some(from), _) => version(from.value.checked_add(1)?, from.span()),
                    (None, Some(to)) => version(to.value, to.span()),
                    (None, None) => return None,
                };
                Some(placeholder(chain, &to))
            });
            let item = step.map_or(item, |s| s.item.into_token_stream());
            let errors = errors.into_compile_errors();
            quote!(#errors #item #placeholder)
        }
    }
}

/// Stands in for a step whose declaration has errors, without checks.
fn placeholder(chain: &syn::Path, to: &Literal) -> TokenStream {
    quote! {
        const _: () = {
            impl ::verchain::__private::OnlyOneStepTo<#to> for #chain {
                fn step() -> ::verchain::__private::Step<<#chain as ::verchain::__private::Chain>::Record> {
                    ::core::unreachable!("#[migration] reported a compile error")
                }
            }
        };
    }
}

fn step_impl(
    args: &MigrationArgs,
    chain: &syn::Path,
    from: &Version,
    to: &Version,
    step: &StepFn,
    shape: &crate::ast::Shape,
) -> TokenStream {
    let item = &step.item;
    let at = |span: Span| Ident::new("__VerchainChain", span);
    let chain_at_path = at(chain.span());
    let chain_at_from = at(from.span());
    let chain_at_to = at(to.span());
    let (from_lit, to_lit) = (&from.lit, &to.lit);
    let fn_ident = &item.sig.ident;
    let id = fn_ident.to_string();
    let description = &step.description;
    let checksum = &step.checksum;
    let record = quote!(<__VerchainChain as ::verchain::__private::Chain>::Record);
    // A step outside the transaction takes the connection: its own shape.
    let alone = args.transaction.as_ref().is_some_and(|t| !t.value);
    let transaction = !alone;
    let up_shape = match alone {
        true => quote!(::verchain::__private::shape::Alone),
        false => shape.marker(),
    };
    let up = quote_spanned! {fn_ident.span()=>
        <_ as ::verchain::__private::StepFn<#record, #up_shape>>::into_body(#fn_ident)
    };
    let (down_id, down) = match &args.down {
        Some(path) => {
            let down_shape = match alone {
                true => quote!(::verchain::__private::shape::Alone),
                false => shape.reverse_marker(),
            };
            let id = path.segments.last().map(|s| s.ident.to_string());
            (
                quote!(::core::option::Option::Some(#id)),
                quote_spanned! {path.span()=>
                    ::core::option::Option::Some(
                        <_ as ::verchain::__private::StepFn<#record, #down_shape>>::into_body(#path)
                    )
                },
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };
    let breaking = args.breaking.unwrap_or(false);
    let backup_required = args.backup_required.unwrap_or(true);
    let services = args.requires_restart.iter().flatten();
    let estimate = match args.estimate {
        Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let verify = match &args.verify {
        Some(path) => quote_spanned! {path.span()=>
            ::core::option::Option::Some(<_ as ::verchain::__private::VerifyFn<#record>>::into_verify(#path))
        },
        None => quote!(::core::option::Option::None),
    };

    quote! {
        #item

        const _: () = {
            type __VerchainChain = #chain;
            const _: () = ::verchain::__private::assert_chain::<#chain_at_path>();
            const _: () = ::verchain::__private::assert_reaches::<#chain_at_from, #from_lit>();
            const _: () = ::verchain::__private::assert_not_past_current::<#chain_at_to, #to_lit>();

            impl ::verchain::__private::OnlyOneStepTo<#to_lit> for #chain_at_from {
                fn step() -> ::verchain::__private::Step<#record> {
                    ::verchain::__private::Step::new(
                        ::verchain::__private::StepMeta {
                            id: #id,
                            from: #from_lit,
                            to: #to_lit,
                            description: #description,
                            checksum: #checksum,
                            down: #down_id,
                            file: ::core::file!(),
                            line: ::core::line!(),
                            breaking: #breaking,
                            requires_restart: &[#(#services),*],
                            backup_required: #backup_required,
                            estimate: #estimate,
                            transaction: #transaction,
                        },
                        #up,
                        #down,
                        #verify,
                    )
                }
            }
        };
    }
}
