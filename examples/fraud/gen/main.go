// Command gen writes the fraud example's data, or checks a run's alerts:
//
//	go run ./examples/fraud/gen -dir examples/fraud            # transactions.jsonl, injected.jsonl
//	go run ./examples/fraud/gen -dir examples/fraud -check     # alerts-*.jsonl against injected.jsonl
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wstream/wstream/examples/fraud"
	"github.com/wstream/wstream/examples/internal/jsonl"
)

func main() {
	cfg := fraud.Config{}
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same data")
	flag.IntVar(&cfg.Cards, "cards", 2000, "number of cards")
	flag.IntVar(&cfg.Minutes, "minutes", 240, "minutes of event time, one batch each")
	flag.IntVar(&cfg.Frauds, "frauds", 5, "frauds injected per pattern")
	dir := flag.String("dir", ".", "folder of transactions.jsonl, injected.jsonl and the alerts-*.jsonl files")
	check := flag.Bool("check", false, "compare alerts-cards.jsonl and alerts-bursts.jsonl with injected.jsonl instead of generating")
	flag.Parse()
	var err error
	if *check {
		err = checkAlerts(*dir)
	} else {
		err = generate(cfg, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(cfg fraud.Config, dir string) error {
	txs, injected, err := fraud.Generate(cfg)
	if err != nil {
		return err
	}
	if err := jsonl.Create(filepath.Join(dir, "transactions.jsonl"), func(w io.Writer) error { return fraud.WriteBatches(w, txs, cfg.Minutes) }); err != nil {
		return err
	}
	if err := jsonl.Create(filepath.Join(dir, "injected.jsonl"), func(w io.Writer) error { return fraud.WriteAlerts(w, injected) }); err != nil {
		return err
	}
	fmt.Printf("%d transactions on %d cards over %d minutes, %d frauds injected\n", len(txs), cfg.Cards, cfg.Minutes, len(injected))
	return nil
}

func checkAlerts(dir string) error {
	injected, err := fraud.ReadAlerts(filepath.Join(dir, "injected.jsonl"))
	if err != nil {
		return err
	}
	var alerts []fraud.Alert
	for _, name := range []string{"alerts-cards.jsonl", "alerts-bursts.jsonl"} {
		a, err := fraud.ReadAlerts(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		alerts = append(alerts, a...)
	}
	fraud.SortAlerts(alerts)
	for _, a := range alerts {
		fmt.Printf("%8s  %s  %-6s  %s\n", clock(a.Time), a.Card, a.Pattern, a.Detail)
	}
	missed, wrong := fraud.Compare(alerts, injected)
	fmt.Printf("%d alerts: %d of %d injected frauds flagged, %d false alerts\n", len(alerts), len(injected)-len(missed), len(injected), len(wrong))
	for _, a := range missed {
		fmt.Printf("missed: %+v\n", a)
	}
	for _, a := range wrong {
		fmt.Printf("false: %+v\n", a)
	}
	if len(missed)+len(wrong) > 0 {
		return fmt.Errorf("the alerts are not exactly the injected frauds")
	}
	return nil
}

// clock shows an event time in ms as hours:minutes:seconds since the start.
func clock(ms int64) string {
	s := ms / 1000
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
