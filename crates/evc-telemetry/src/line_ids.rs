//! Trace ids in JSON log lines: a line written inside a span that carries a W3C trace context
//! gets its `trace_id` and `span_id`; and the log filter that keeps spans visible to the line
//! writer whatever level the lines are filtered at, so a WARN line still finds its INFO span.

use std::fmt;

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{span, Event, Level, Metadata, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

/// The nearest span around the event being written (innermost first) that has W3C ids: its trace id and its
/// own span id, as lowercase hex.
fn ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    ctx.event_scope()?.find_map(|span| {
        let ext = span.extensions();
        let data = ext.get::<OtelData>()?;
        let (trace, id) = (data.trace_id()?, data.span_id()?);
        (trace != opentelemetry::TraceId::INVALID && id != opentelemetry::SpanId::INVALID)
            .then(|| (trace.to_string(), id.to_string()))
    })
}

/// A JSON event format with `trace_id` and `span_id` added at the top level when the event
/// is inside a span with W3C ids (see [`ids`]); the line as the inner format wrote it otherwise.
pub(crate) struct WithTraceIds<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        if let Some((trace, span)) = ids(ctx) {
            line = with_ids(line, &trace, &span);
        }
        writer.write_str(&line)
    }
}

/// `{…}\n` with `,"trace_id":…,"span_id":…` before its closing brace (hex ids need no
/// escaping); a line not ending in `}` is left as it is.
fn with_ids(mut line: String, trace: &str, span: &str) -> String {
    let Some(end) = line.trim_end().rfind('}') else {
        return line;
    };
    let empty = line[..end].trim_end().ends_with('{');
    let sep = if empty { "" } else { "," };
    line.insert_str(
        end,
        &format!(r#"{sep}"trace_id":"{trace}","span_id":"{span}""#),
    );
    line
}

/// The line filter, except that spans at INFO and above are always enabled for the line
/// writer (they are the context lines are written in; the OpenTelemetry layer records the same
/// ones), so a line the filter lets through still finds its trace ids and its `span` when
/// the filter is stricter than the span (`warn` and an INFO `evc.consume` span).
pub(crate) struct SpansVisible(pub EnvFilter);

fn context_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && *meta.level() <= Level::INFO
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Filter<S> for SpansVisible {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        context_span(meta) || Filter::<S>::enabled(&self.0, meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if context_span(meta) {
            Interest::always()
        } else {
            Filter::<S>::callsite_enabled(&self.0, meta)
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Filter::<S>::max_level_hint(&self.0).map(|l| l.max(LevelFilter::INFO))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        Filter::<S>::on_new_span(&self.0, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        Filter::<S>::on_record(&self.0, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        Filter::<S>::on_enter(&self.0, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        Filter::<S>::on_exit(&self.0, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        Filter::<S>::on_close(&self.0, id, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_before_the_closing_brace() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        let s = "00f067aa0ba902b7";
        assert_eq!(
            with_ids("{\"level\":\"INFO\"}\n".into(), t, s),
            format!("{{\"level\":\"INFO\",\"trace_id\":\"{t}\",\"span_id\":\"{s}\"}}\n")
        );
        assert_eq!(
            with_ids("{}".into(), t, s),
            format!("{{\"trace_id\":\"{t}\",\"span_id\":\"{s}\"}}")
        );
        assert_eq!(with_ids("not json".into(), t, s), "not json");
    }
}
