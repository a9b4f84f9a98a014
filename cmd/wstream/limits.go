package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/host/pipeline"
)

// sandboxFlags applies --memory-limit, --call-timeout, --max-output,
// --allow, --max-rate and --backpressure over the spec's fields.
func sandboxFlags(c *cli.Context, spec *pipeline.Spec) error {
	size := func(flag string, dst *pipeline.Size) error {
		if v := c.String(flag); v != "" {
			z, err := pipeline.ParseSize(v)
			if err != nil {
				return usagef("--%s: %v", flag, err)
			}
			*dst = z
		}
		return nil
	}
	if err := size("memory-limit", &spec.Limits.Memory); err != nil {
		return err
	}
	if err := size("max-output", &spec.Limits.MaxOutput); err != nil {
		return err
	}
	if v := c.String("call-timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return usagef("--call-timeout %q is not a duration; write it like 500ms, 5s or 1m", v)
		}
		spec.Limits.Timeout = pipeline.Duration(d)
	}
	if err := spec.Limits.Check("--memory-limit/--max-output:"); err != nil {
		return usagef("%v", err)
	}
	if c.IsSet("allow") {
		spec.Allow = c.StringSlice("allow")
		if err := (&pipeline.Spec{Allow: spec.Allow}).CheckSandbox(); err != nil {
			return usagef("--%v", err)
		}
	}
	if c.IsSet("max-rate") {
		v := c.Float64("max-rate")
		if !(v > 0) {
			return usagef("--max-rate %v: must be a positive number of records per second", v)
		}
		spec.MaxRate = pipeline.Rates{pipeline.AllSources: v}
	}
	if c.Bool("backpressure") {
		spec.Backpressure = true
	}
	return nil
}

// untrustedPipeline refuses what a plugin's own default pipeline may not
// set: where wstream reads, writes and keeps checkpoints, other modules to
// load, and the sandbox. A plugin is untrusted code; only the operator,
// with a pipeline file or flags, decides those (runtime/THREATS.md). Flags
// that replace a field make it harmless.
func untrustedPipeline(c *cli.Context, s *pipeline.Spec) error {
	var bad []string
	set := func(field string, isSet bool, flag string) {
		if isSet && (flag == "" || c.String(flag) == "") {
			bad = append(bad, field)
		}
	}
	set("sources:", len(s.Sources) > 0, "source")
	set("sink:", s.Sink != "", "sink")
	set("sinks:", len(s.Sinks) > 0, "sink")
	set("a stream's sink:", streamSinks(s), "")
	set("checkpoint:", s.Checkpoint != "", "checkpoint")
	set("late:", s.Late != "", "")
	set("deadLetter:", s.DeadLetter != "", "")
	set("plugin:", s.Plugin != "" || stagePlugins(s), "")
	set("limits:", s.Limits != (pipeline.Limits{}), "")
	set("allow:", len(s.Allow) > 0, "")
	set("http:", s.HTTP != "", "http")
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("sets %s, which only a pipeline file or a flag may set", strings.Join(bad, ", "))
}

// streamSinks reports whether any named stream has sinks of its own.
func streamSinks(s *pipeline.Spec) bool {
	for _, st := range s.Streams {
		if st.Sink != "" || len(st.Sinks) > 0 {
			return true
		}
	}
	return false
}

// stagePlugins reports whether any stage names a plugin of its own.
func stagePlugins(s *pipeline.Spec) bool {
	var walk func([]pipeline.Stage) bool
	walk = func(stages []pipeline.Stage) bool {
		for _, st := range stages {
			if st.Plugin != "" || walk(st.Stages) {
				return true
			}
		}
		return false
	}
	if walk(s.Stages) {
		return true
	}
	for _, st := range s.Streams {
		if walk(st.Stages) {
			return true
		}
	}
	return false
}
