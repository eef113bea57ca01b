package tracing_test

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/services/internal/tracing"
)

// The gateway traces a request and sends its command with the trace
// context; the things service continues the trace.
func Example() {
	var cfg tracing.Config // from envconfig, with the rest of the configuration
	gw, _ := tracing.New(cfg, "gateway", "gw-1", slog.Default())
	defer gw.Shutdown(context.Background())

	putThing := func(w http.ResponseWriter, r *http.Request) {
		ctx, span := gw.StartHTTP(r, "/api/2/things/{thingId}")
		defer span.End()
		header := tracing.Inject(ctx, nats.Header{})
		// ... send the command with header over NATS, write the answer ...
		_ = header
		span.SetStatusCode(http.StatusNoContent)
	}
	_ = putThing

	things, _ := tracing.New(cfg, "things", "things-1", slog.Default())
	defer things.Shutdown(context.Background())
	handle := func(m *nats.Msg) {
		ctx, span := things.StartConsumer(context.Background(), tracing.SpanProcess, "things.commands:modifyThing", m.Header)
		defer span.End()
		_, enforce := tracing.Start(ctx, tracing.SpanEnforce, tracing.EntityID.String("org.acme:lamp"))
		enforce.End()
	}
	_ = handle
}
