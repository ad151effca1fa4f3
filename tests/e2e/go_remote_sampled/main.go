// Root spans through the OpenTelemetry Go SDK under go.opentelemetry.io/contrib/samplers/jaegerremote,
// which polls Spoor's sampling endpoint; sampled spans go to Spoor's OTLP HTTP endpoint.
// Usage: go_remote_sampled SAMPLING_URL OTLP_HTTP_HOSTPORT SERVICE OPERATION=COUNT...
// Prints {"sampler": str, "sampled": {operation: n}} as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/samplers/jaegerremote"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: go_remote_sampled SAMPLING_URL OTLP_HOSTPORT SERVICE OP=N...")
		os.Exit(2)
	}
	samplingURL, otlp, service := os.Args[1], os.Args[2], os.Args[3]
	ctx := context.Background()
	sampler := jaegerremote.New(
		service,
		jaegerremote.WithSamplingServerURL(samplingURL),
		jaegerremote.WithSamplingRefreshInterval(200*time.Millisecond),
		jaegerremote.WithInitialSampler(sdktrace.NeverSample()),
	)
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(otlp), otlptracehttp.WithInsecure())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
		sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(100*time.Millisecond), sdktrace.WithMaxQueueSize(100000)),
	)
	// Wait until the first strategy arrived (the initial sampler is replaced).
	initial := sampler.Description()
	deadline := time.Now().Add(15 * time.Second)
	for sampler.Description() == initial && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	tracer := provider.Tracer("remote-sampling-e2e")
	sampled := map[string]int{}
	for _, item := range os.Args[4:] {
		op, count, _ := strings.Cut(item, "=")
		n, err := strconv.Atoi(count)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		sampled[op] = 0
		for i := 0; i < n; i++ {
			_, span := tracer.Start(ctx, op)
			if span.SpanContext().IsSampled() {
				sampled[op]++
			}
			span.End()
		}
	}
	if err := provider.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{"sampler": sampler.Description(), "sampled": sampled})
	fmt.Println(string(out))
}
