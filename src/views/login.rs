//! The sign-in page: every interactive way in the login backends offer (a password form,
//! "Sign in with …" buttons), and what they say of how to get in.

use maud::{html, Markup, DOCTYPE};

use super::View;
use crate::auth::{LoginHelp, SignInMethod};

/// What the login page offers.
#[derive(Debug, Default)]
pub(crate) struct Offer<'a> {
    /// Show the username and password form.
    pub(crate) password: bool,
    /// Buttons: their text and full link (base, path and `next` already in).
    pub(crate) links: Vec<(&'a str, String)>,
    /// Each backend's help.
    pub(crate) helps: &'a [LoginHelp],
    /// Said when there is no way in at all.
    pub(crate) closed: Option<&'a str>,
}

impl<'a> Offer<'a> {
    /// The offer of `methods`, with `link` making a button's URL from its path.
    pub(crate) fn of(
        methods: &'a [SignInMethod],
        helps: &'a [LoginHelp],
        link: impl Fn(&str) -> String,
    ) -> Offer<'a> {
        let mut offer = Offer {
            helps,
            ..Offer::default()
        };
        for m in methods {
            match m {
                SignInMethod::Password => offer.password = true,
                SignInMethod::Link { label, path } => offer.links.push((label, link(path))),
            }
        }
        offer
    }
}

/// The whole login page (it has no sidebar: nothing else is reachable yet).
pub(crate) fn login(
    v: &View<'_>,
    next: &str,
    username: &str,
    error: Option<&str>,
    offer: &Offer<'_>,
) -> Markup {
    let content = html! {
        h1 { "Sign in" }
        @if let Some(d) = &v.brand.description {
            p.description { (d) }
        }
        @if let Some(e) = error {
            div.flash.flash-err role="alert" { (e) }
        }
        @for (label, href) in &offer.links {
            a.btn.btn-primary.btn-block.sso href=(href) { (label) }
        }
        @if offer.password {
            @if !offer.links.is_empty() {
                p.or.muted { span { "or with a password" } }
            }
            form.card method="post" action=(v.urls.href(v.urls.sign().login)) {
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="username" { "Username" }
                    input #username type="text" name="username" value=(username) autocomplete="username" required autofocus[offer.links.is_empty()];
                }
                div.field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                }
                button.btn.btn-primary type="submit" { "Sign in" }
            }
        }
        @for h in offer.helps {
            p.card.muted.help {
                (h.as_text())
                @if let Some((url, text)) = h.as_link() {
                    " " a href=(url) rel="noopener noreferrer" { (text) }
                }
            }
        }
        @if let Some(c) = offer.closed {
            p.card.muted { (c) }
        }
    };
    super::layout::boxed(v, "Sign in", content)
}

/// After signing out here, on the way to the identity provider's own sign-out: a refresh
/// and a link (a sign-out form's answer may not redirect off-site under the dashboard's CSP).
pub(crate) fn leaving(v: &View<'_>, to: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content={"0; url=" (to)};
                title { "Signed out · " (v.title) }
                link rel="stylesheet" href=(v.asset("app.css"));
                link rel="stylesheet" href=(v.asset("theme.css"));
                link rel="icon" type=(v.brand.favicon_type) href=(v.asset("favicon"));
            }
            body.login-page {
                main #main.login-box {
                    h1 { "Signed out" }
                    p { "You are signed out of this dashboard. Taking you to your identity provider to sign out there too." }
                    a.btn.btn-primary.btn-block href=(to) { "Continue" }
                }
            }
        }
    }
}
