package pipeline

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// HTTPAddr reads the address of a run's web server (the pipeline's http:,
// run --http): HOST:PORT as given, or :PORT and PORT on 127.0.0.1, so that
// naming only a port never opens the server to the network. Port 0 picks a
// free one.
func HTTPAddr(s string) (string, error) {
	v := strings.TrimSpace(s)
	if strings.Contains(v, "://") {
		return "", fmt.Errorf("%q is a URL; give the address to listen on, HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:4040)", s)
	}
	if _, err := strconv.ParseUint(v, 10, 16); err == nil {
		v = ":" + v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%q is not an address to listen on: write HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:4040)", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	} else {
		port = strconv.FormatUint(n, 10)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
