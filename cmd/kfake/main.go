// Command kfake runs franz-go's in-memory Kafka-protocol broker (kfake) as
// a process of its own on loopback, for wstream's Kafka tests and for trying
// the kafka:// source and sink on a machine without Kafka:
//
//	go run ./cmd/kfake -port 9092 -partitions 6 -data-dir /tmp/kfake
//
// It prints "kfake listening on ADDR" on stdout once it accepts connections,
// and stops on SIGINT or SIGTERM. It is a test peer, not a production broker:
// one node, no replication. Topics are created on first use with -partitions
// partitions unless -auto-create=false.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks a free one)")
	partitions := flag.Int("partitions", 6, "partitions of a topic created on first use")
	dataDir := flag.String("data-dir", "", "directory to persist topics, offsets and transactions across restarts (empty: memory only)")
	autoCreate := flag.Bool("auto-create", true, "create topics on first use")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	minSession := flag.Duration("min-session-timeout", time.Second, "smallest consumer-group session timeout a client may ask for")
	logLevel := flag.String("log-level", "none", "broker log on stderr: none, error, warn, info or debug")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kfake: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}

	opts := []kfake.Opt{
		kfake.Ports(*port),
		kfake.DefaultNumPartitions(*partitions),
		kfake.GroupMinSessionTimeout(*minSession),
		kfake.WithLogger(kfake.BasicLogger(os.Stderr, level(*logLevel))),
	}
	if *autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *topics != "" {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("kfake listening on %s\n", strings.Join(c.ListenAddrs(), ","))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}

func level(s string) kfake.LogLevel {
	switch strings.ToLower(s) {
	case "debug":
		return kfake.LogLevelDebug
	case "info":
		return kfake.LogLevelInfo
	case "warn":
		return kfake.LogLevelWarn
	case "error":
		return kfake.LogLevelError
	}
	return kfake.LogLevelNone
}
