// Package httpio is the http:// connector. As a source, http://ADDR/PATH
// listens on ADDR for POSTs to PATH of text lines, JSON values, JSON
// arrays or CSV rows, and answers each request only once the batch that holds it has
// committed, so that a client that retries until it gets a 200 loses
// nothing; with a request id header it is also counted once. As a sink,
// http(s)://HOST/PATH POSTs each batch as one JSON document, retrying an
// endpoint that fails.
package httpio

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
)

func init() {
	host.Register(host.Connector{Scheme: "http",
		SourceForm: "http://ADDR/PATH  listen for POSTs of lines or JSON; each answered once its batch has committed",
		SinkForm:   "http(s)://HOST/PATH  POST each batch as JSON, with retries",
		Params:     params,
		Source:     func(uri string, env host.Env) (host.Source, error) { return openSource(uri, env) },
		Sink:       func(uri string, env host.Env) (host.Sink, error) { return openSink(uri, env) },
	})
	host.Register(host.Connector{Scheme: "https", Params: params,
		Sink: func(uri string, env host.Env) (host.Sink, error) { return openSink(uri, env) }})
}

// params are the query parameters of http:// URIs.
var params = []host.Param{
	{Name: "maxBody", Help: "source: the largest request body, larger ones get 413 (default 16MiB)"},
	{Name: "queue", Help: "source: how many bytes of requests may wait for a batch before new ones get 429 (default 64MiB)"},
	{Name: "idHeader", Help: "source: the request header whose value identifies a request across retries (default Idempotency-Key)"},
	{Name: "dedupe", Help: "source: how many committed request ids are remembered (and checkpointed) to answer a retry without counting it again (default 10000)"},
	{Name: "timeout", Help: "sink: the time one POST may take (default 10s)"},
	{Name: "retries", Help: "sink: how many times a failed POST is tried again, with backoff, before the run stops (default 5)"},
	{Name: "empty", Help: "sink: true also POSTs batches without records (default false)"},
	{Name: "ca", Help: "sink: a PEM file of CA certificates to trust for https besides the system's"},
}

// splitURI parses an http(s) URI into its URL without the query and the
// checked parameters. The query's parameters are wstream's, so the URL
// keeps none.
func splitURI(uri string) (*url.URL, host.Query, error) {
	base, q, err := host.ParseQuery(uri, params)
	if err != nil {
		return nil, q, err
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" || u.User != nil {
		return nil, q, fmt.Errorf("%s: want http://HOST:PORT/PATH", uri)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, q, nil
}

// size reads a size parameter, or def when it is not given.
func size(q host.Query, name string, def int64) (int64, error) {
	if !q.Has(name) {
		return def, nil
	}
	z, err := pipeline.ParseSize(q.Get(name))
	if err != nil || z < 1 {
		return 0, q.Bad(name, "a size such as 16MiB")
	}
	return int64(z), nil
}

// only refuses the parameters of the other direction.
func only(uri string, q host.Query, prefix string) error {
	for _, n := range q.Names() {
		for _, p := range params {
			if p.Name == n && !strings.HasPrefix(p.Help, prefix) {
				return fmt.Errorf("%s: %s is a parameter of the %s", uri, n, strings.TrimSuffix(strings.Fields(p.Help)[0], ":"))
			}
		}
	}
	return nil
}
