//! The sign-in page: a plain form, or the backend's explanation of how to get in.

use maud::{html, Markup, DOCTYPE};

use super::View;

/// The whole login page (it has no sidebar: nothing else is reachable yet).
pub(crate) fn login(
    v: &View<'_>,
    next: &str,
    username: &str,
    error: Option<&str>,
    help: Option<&str>,
    form: bool,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (super::layout::head(v, "Sign in", false))
            body.login-page {
                main #main.login-box {
                    div.brand {
                        img src=(v.asset("favicon.svg")) alt="" width="28" height="28";
                        span { (v.title) }
                    }
                    h1 { "Sign in" }
                    @if let Some(e) = error {
                        div.flash.flash-err role="alert" { (e) }
                    }
                    @if form {
                        form.card method="post" action=(v.urls.href("/login")) {
                            input type="hidden" name="next" value=(next);
                            div.field {
                                label for="username" { "Username" }
                                input #username type="text" name="username" value=(username) autocomplete="username" required autofocus;
                            }
                            div.field {
                                label for="password" { "Password" }
                                input #password type="password" name="password" autocomplete="current-password" required;
                            }
                            button.btn.btn-primary type="submit" { "Sign in" }
                        }
                    }
                    @if let Some(h) = help {
                        p.card.muted { (h) }
                    }
                }
            }
        }
    }
}
