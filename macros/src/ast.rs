//! The migration function as the attribute sees it: which shape of step its
//! signature makes, keeping the original syntax for spans.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use crate::check::Errors;

/// The signatures a step may have, for error messages.
pub const ACCEPTED: &str = "a migration step takes one argument and is one of:\n\
    - in place: `fn(doc: &mut Document) -> Result<(), E>` (or returning `()`)\n\
    - typed: `fn(old: NoteV1) -> NoteV2` or `fn(old: NoteV1) -> Result<NoteV2, E>`, \
      with serde types\n\
    - by reference, for stores that hand a step a connection: \
      `fn(tx: &Transaction) -> Result<(), E>`";

/// How a step function receives its record.
pub enum Shape {
    /// `fn(&mut R) -> …`
    InPlace,
    /// `fn(&R) -> …`
    ByRef,
    /// `fn(A) -> B` or `fn(A) -> Result<B, E>`.
    Typed { input: Box<Type>, output: Box<Type> },
}

impl Shape {
    /// The marker type naming this shape in generated code.
    pub fn marker(&self) -> TokenStream {
        match self {
            Shape::InPlace => quote!(::verchain::__private::shape::InPlace),
            Shape::ByRef => quote!(::verchain::__private::shape::ByRef),
            Shape::Typed { input, output } => {
                quote!(::verchain::__private::shape::Typed<#input, #output>)
            }
        }
    }

    /// The shape the `down` step must have: the same, with types swapped.
    pub fn reverse_marker(&self) -> TokenStream {
        match self {
            Shape::Typed { input, output } => Shape::Typed {
                input: output.clone(),
                output: input.clone(),
            }
            .marker(),
            other => other.marker(),
        }
    }
}

/// The migration function: its item, id, description, shape and checksum.
pub struct StepFn {
    pub item: ItemFn,
    pub shape: Option<Shape>,
    pub description: String,
    pub checksum: String,
}

impl StepFn {
    pub fn parse(item: ItemFn, errors: &mut Errors) -> Self {
        let shape = shape(&item, errors);
        let description = description(&item);
        let checksum = checksum(&item);
        StepFn {
            item,
            shape,
            description,
            checksum,
        }
    }
}

fn signature_error(span: Span, what: &str) -> syn::Error {
    syn::Error::new(span, format!("{what}\n{ACCEPTED}"))
}

fn shape(item: &ItemFn, errors: &mut Errors) -> Option<Shape> {
    let sig = &item.sig;
    let mut ok = true;
    let mut reject = |span: Span, what: &str| {
        errors.push(signature_error(span, what));
        ok = false;
    };
    if let Some(t) = &sig.asyncness {
        reject(t.span(), "a migration step cannot be `async`");
    }
    if let syn::Safety::Unsafe(t) = &sig.safety {
        reject(t.span(), "a migration step cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        reject(abi.span(), "a migration step cannot declare an ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        reject(sig.generics.span(), "a migration step cannot be generic");
    }
    if let Some(v) = &sig.variadic {
        reject(v.span(), "a migration step cannot be variadic");
    }
    let arg = match (sig.inputs.first(), sig.inputs.len()) {
        (Some(FnArg::Typed(arg)), 1) => Some(arg),
        (Some(FnArg::Receiver(r)), _) => {
            reject(
                r.span(),
                "a migration step is a free function, not a method",
            );
            None
        }
        (None, _) => {
            reject(
                sig.paren_token.span.join(),
                "this function takes no argument",
            );
            None
        }
        (Some(_), n) => {
            reject(
                sig.inputs[1].span(),
                &format!("this function takes {n} arguments; a step takes only its record"),
            );
            None
        }
    };
    let arg = arg?;
    if !ok {
        return None;
    }
    match &*arg.ty {
        Type::Reference(r) if r.mutability.is_some() => Some(Shape::InPlace),
        Type::Reference(_) => Some(Shape::ByRef),
        input => match &sig.output {
            ReturnType::Default => {
                errors.push(signature_error(
                    arg.ty.span(),
                    "a typed step takes the old version's type by value and must return the \
                     new version's type",
                ));
                None
            }
            ReturnType::Type(_, output) => Some(Shape::Typed {
                input: Box::new(input.clone()),
                output: Box::new(result_payload(output).unwrap_or_else(|| (**output).clone())),
            }),
        },
    }
}

/// `T` for a return type written `Result<T, …>` (any path ending in
/// `Result`), else `None`.
fn result_payload(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// The doc comment, lines joined, one leading space per line removed.
fn description(item: &ItemFn) -> String {
    let lines: Vec<String> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|doc| doc.split('\n').map(str::to_owned).collect::<Vec<_>>())
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

/// The checksum of the function's signature and body (attributes, such as
/// the doc comment or `#[rustfmt::skip]`, do not count): token by token, so formatting, comments and line endings do not count. A
/// trailing comma before a closing delimiter is dropped too, since rustfmt
/// adds or removes it when it wraps a list.
fn checksum(item: &ItemFn) -> String {
    let mut tokens = Vec::new();
    flatten(item.sig.to_token_stream(), &mut tokens);
    flatten(item.block.to_token_stream(), &mut tokens);
    verchain_core::checksum(tokens)
}

fn flatten(stream: TokenStream, out: &mut Vec<String>) {
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                    proc_macro2::Delimiter::Brace => ("{", "}"),
                    proc_macro2::Delimiter::Bracket => ("[", "]"),
                    proc_macro2::Delimiter::None => ("", ""),
                };
                out.push(open.to_owned());
                flatten(group.stream(), out);
                if out.last().is_some_and(|t| t == ",") {
                    out.pop();
                }
                out.push(close.to_owned());
            }
            TokenTree::Ident(ident) => out.push(ident.to_string()),
            TokenTree::Punct(punct) => out.push(punct.as_char().to_string()),
            TokenTree::Literal(lit) => out.push(lit.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(src: &str) -> String {
        checksum(&syn::parse_str(src).unwrap())
    }

    #[test]
    fn checksum_ignores_layout_comments_and_docs() {
        let a = sum("/// one\nfn f(d: &mut Doc) -> R { d.set(\"a\", 1); }");
        let b =
            sum("/// two\r\nfn f(\r\n  d: &mut Doc,\r\n) -> R {\n // note\n d.set(\"a\", 1);\n}");
        assert_eq!(a, b);
        assert_ne!(a, sum("fn f(d: &mut Doc) -> R { d.set(\"a\", 2); }"));
    }

    #[test]
    fn shapes_follow_the_argument() {
        let mut errors = Errors::default();
        let typed: ItemFn = syn::parse_str("fn f(a: A) -> anyhow::Result<B> { todo() }").unwrap();
        match shape(&typed, &mut errors) {
            Some(Shape::Typed { output, .. }) => {
                assert_eq!(output.to_token_stream().to_string(), "B");
            }
            _ => panic!("expected a typed shape"),
        }
        let in_place: ItemFn = syn::parse_str("fn f(a: &mut A) {}").unwrap();
        assert!(matches!(
            shape(&in_place, &mut errors),
            Some(Shape::InPlace)
        ));
        assert!(errors.is_empty());
        let two: ItemFn = syn::parse_str("fn f(a: A, b: B) -> C { c }").unwrap();
        assert!(shape(&two, &mut errors).is_none());
        assert!(!errors.is_empty());
    }

    #[test]
    fn description_keeps_paragraphs() {
        let item: ItemFn =
            syn::parse_str("/// Adds a status.\n///\n/// Defaults to draft.\nfn f(a: &mut A) {}")
                .unwrap();
        assert_eq!(description(&item), "Adds a status.\n\nDefaults to draft.");
    }
}
