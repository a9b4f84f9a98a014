// Command benthos-bench runs the Benthos peer of `wstream bench`: Benthos
// (github.com/redpanda-data/benthos/v4) with Redpanda Connect's `wasm`
// processor, which calls a WebAssembly function once per message, over the
// same messages and transform that the suite runs through wstream's batch
// ABI. It is its own module so that Benthos's large dependency tree stays
// out of wstream's go.mod; the suite builds and runs it as a child process
// and reads one JSON line from its stdout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure" // tracer, buffer and metrics "none"
	_ "github.com/redpanda-data/connect/v4/public/components/wasm"
)

type result struct {
	Records       int64   `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	Threads       int     `json:"threads"`
	Batch         int     `json:"batch"`
	Versions      string  `json:"versions"`
}

// versions are the pinned module versions, as go.mod has them.
const versions = "benthos v4.44.1, connect v4.49.1 (wasm processor, wazero v1.7.3)"

func main() {
	module := flag.String("module", "upper.wasm", "the guest `FILE.wasm` (exports process, malloc, free)")
	records := flag.Int("records", 200000, "messages to process")
	batch := flag.Int("batch", 1000, "messages per batch")
	size := flag.Int("size", 100, "bytes per message")
	threads := flag.Int("threads", 1, "pipeline threads (and producers)")
	flag.Parse()
	if err := run(*module, *records, *batch, *size, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "benthos-bench:", err)
		os.Exit(1)
	}
}

// message makes the i-th message: lower-case words, size bytes, the same
// text generator as the suite's (letters only, so upper case is checkable).
func message(i, size int) []byte {
	b := make([]byte, size)
	x := uint32(i)*2654435761 + 1
	for j := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if x%7 == 0 {
			b[j] = ' '
		} else {
			b[j] = 'a' + byte(x%26)
		}
	}
	return b
}

func run(module string, records, batch, size, threads int) error {
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: none"); err != nil {
		return err
	}
	sb.SetHTTPMux(http.NewServeMux()) // no HTTP server on a port
	produce, err := sb.AddBatchProducerFunc()
	if err != nil {
		return err
	}
	if err := sb.AddProcessorYAML(fmt.Sprintf("wasm:\n  module_path: %q\n  function: process\n", module)); err != nil {
		return err
	}
	sb.SetThreads(threads)
	var seen atomic.Int64
	var bad atomic.Value
	if err := sb.AddBatchConsumerFunc(func(_ context.Context, mb service.MessageBatch) error {
		for _, m := range mb {
			b, err := m.AsBytes()
			if err != nil {
				bad.Store(err.Error())
			} else if bytes.ContainsAny(b, "abcdefghijklmnopqrstuvwxyz") {
				bad.Store(fmt.Sprintf("message not transformed: %q", b))
			}
		}
		seen.Add(int64(len(mb)))
		return nil
	}); err != nil {
		return err
	}
	stream, err := sb.Build()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()

	// Batches are made before the clock starts, as the suite does for wstream.
	nb := (records + batch - 1) / batch
	batches := make([]service.MessageBatch, nb)
	for k := range batches {
		for i := k * batch; i < min((k+1)*batch, records); i++ {
			batches[k] = append(batches[k], service.NewMessage(message(i, size)))
		}
	}
	// Warm up the module pool (one instance per thread) untimed.
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = produce(ctx, service.MessageBatch{service.NewMessage(message(0, size))})
		}()
	}
	wg.Wait()
	seen.Store(0)

	var next atomic.Int64
	errs := make(chan error, threads)
	start := time.Now()
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= nb {
					return
				}
				if err := produce(ctx, batches[k]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if v := bad.Load(); v != nil {
		return fmt.Errorf("%v", v)
	}
	if n := seen.Load(); n != int64(records) {
		return fmt.Errorf("the consumer saw %d messages of %d", n, records)
	}
	cancel()
	<-done
	return json.NewEncoder(os.Stdout).Encode(result{
		Records: int64(records), Seconds: secs, RecordsPerSec: float64(records) / secs,
		Threads: threads, Batch: batch, Versions: versions,
	})
}
