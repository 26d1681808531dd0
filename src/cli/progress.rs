//! Progress bars on stderr, for the commands that can take minutes: only when stderr is a
//! terminal, never with `--quiet`. The library reports `(done, total)`; a bar draws it and is
//! cleared at the end, leaving the command's one-line summary.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tvault::vault::Attachment;

use super::Context;

pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar counting bytes.
    pub fn bytes(ctx: &Context, what: &str) -> Self {
        Self::new(
            ctx,
            what,
            "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
    }

    /// A bar counting items (`unit`: what they are).
    pub fn items(ctx: &Context, what: &str, unit: &str) -> Self {
        Self::new(
            ctx,
            what,
            &format!("{{msg}} [{{wide_bar}}] {{pos}}/{{len}} {unit} {{eta}}"),
        )
    }

    fn new(ctx: &Context, what: &str, template: &str) -> Self {
        if ctx.quiet || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let style = ProgressStyle::with_template(template)
            .expect("the templates are valid")
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(what.to_owned());
        Bar(Some(bar))
    }

    /// Moves the bar to `done` of `total`.
    pub fn set(&self, done: u64, total: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// A bar over attachments of `bytes` in all, each read through it from now on; none when
    /// there are none.
    pub fn for_attachments(ctx: &Context, attachments: &mut [Attachment<'_>], bytes: u64) -> Self {
        if attachments.is_empty() {
            return Bar(None);
        }
        let bar = Bar::bytes(ctx, "encrypting");
        if let Some(b) = &bar.0 {
            b.set_length(bytes);
            for a in attachments {
                let reader = std::mem::replace(&mut a.reader, Box::new(std::io::empty()));
                a.reader = Box::new(b.wrap_read(reader));
            }
        }
        bar
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
