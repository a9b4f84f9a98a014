package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/operators"
)

// keyedSplit reports whether spec runs with its keyed state partitioned
// across a consumer group (host.RunScaleOut): its only source is a kafka
// source with a group, and its chain has a keyed stateful stage.
func keyedSplit(spec *host.Spec, log io.Writer) (at int, keyOf func(abi.Raw) (abi.Raw, error), ok bool, err error) {
	if len(spec.Sources) != 1 || len(spec.Streams) > 0 {
		return 0, nil, false, nil
	}
	name, uri := onlySource(spec)
	group := host.KafkaGroup(uri)
	if group == "" {
		return 0, nil, false, nil
	}
	at, keyOf, ok, why := operators.KeyedSplit(spec.Stages)
	if !ok {
		if why != "" {
			fmt.Fprintf(log, "wstream: %s: %s, so its state stays in this process (host/kafka.md, \"Scale-out and state\")\n", name, why)
		}
		return 0, nil, false, nil
	}
	_, clog := host.ScaleOutTopics(group)
	switch {
	case spec.Checkpoint != "":
		return 0, nil, false, fmt.Errorf("checkpoint: %s: with the kafka group source %s, keyed state lives in Kafka (topic %s) and moves with its partitions between processes; remove checkpoint: from the pipeline", spec.Checkpoint, uri, clog)
	case spec.Clock == "manual":
		return 0, nil, false, fmt.Errorf("clock: manual does not apply to a kafka group source with keyed state (%s); use the system clock, and ?until=end on the source to stop at the end of the topic", uri)
	case spec.Trigger == "once" || spec.Trigger == "available-now":
		return 0, nil, false, fmt.Errorf("trigger: %s does not apply to a kafka group source with keyed state (%s); add ?until=end to the source to stop at the end of the topic", spec.Trigger, uri)
	}
	return at, keyOf, true, nil
}

// runScaleOut runs spec split at stage at: the stages before it on this
// process's partitions of the source, the rest once per partition of the
// repartition topic this process owns.
func runScaleOut(ctx context.Context, c *cli.Context, spec *host.Spec, plugins *pluginSet, at int, keyOf func(abi.Raw) (abi.Raw, error)) error {
	first, keyed := *spec, *spec
	first.Stages, keyed.Stages = spec.Stages[:at], spec.Stages[at:]
	prefix, err := operators.Build(&first, plugins)
	if err != nil {
		return err
	}
	if _, err := operators.Build(&keyed, plugins); err != nil {
		return err // the same error every partition would meet, said once
	}
	prefix.SetLog(c.App.ErrWriter)
	name, uri := onlySource(spec)
	so := host.ScaleOut{
		Source: uri,
		Prefix: prefix,
		KeyOf:  keyOf,
		NewKeyed: func() (host.PartitionProcessor, error) {
			g, err := operators.Build(&keyed, plugins)
			if err != nil {
				return nil, err
			}
			g.SetLog(c.App.ErrWriter)
			return g, nil
		},
		Interval:     spec.Batch.D(),
		ExactlyOnce:  spec.ExactlyOnce,
		MaxRate:      spec.MaxRate.For(name),
		Backpressure: spec.Backpressure,
		Log:          c.App.ErrWriter,
	}
	if so.Sink, err = host.OpenSink(spec.Sink, host.WithStdout(c.App.Writer)); err != nil {
		return err
	}
	if spec.DeadLetter != "" {
		if so.DeadLetter, err = host.OpenSink(spec.DeadLetter, host.WithStdout(c.App.Writer)); err != nil {
			so.Sink.Close()
			return err
		}
	}
	return host.RunScaleOut(ctx, so)
}

// onlySource is the name and URI of a pipeline's one source.
func onlySource(spec *host.Spec) (name, uri string) {
	for n, u := range spec.Sources {
		return n, u
	}
	return "", ""
}
