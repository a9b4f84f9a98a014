package kafka

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionWatch is what a group source tells an observer (host.LagSource)
// and its log: the lag of each owned partition, and the rebalances.
type partitionWatch struct {
	mu         sync.Mutex
	lag        map[int32]int64
	rebalances atomic.Int64
}

// Lag implements host.LagSource: for each owned partition, the records
// between the next offset to read and the end of what is committed, as of
// the last fetch that reported the partition.
func (s *kafkaSource) Lag() map[int32]int64 {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	return maps.Clone(s.watch.lag)
}

// Rebalances implements host.LagSource.
func (s *kafkaSource) Rebalances() int64 { return s.watch.rebalances.Load() }

// noteLag records each fetched partition's lag. s.mu is held.
func (s *kafkaSource) noteLag(fs kgo.Fetches) {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Topic != s.k.topic || p.Err != nil {
			return
		}
		end := p.LastStableOffset // read_committed reads up to here
		if end <= 0 {
			end = p.HighWatermark
		}
		next, ok := s.next[p.Partition]
		if !ok {
			return
		}
		if s.watch.lag == nil {
			s.watch.lag = map[int32]int64{}
		}
		s.watch.lag[p.Partition] = max(end-next, 0)
	})
}

// rebalanced logs a change of the partitions this process owns and counts
// it. s.omu is held.
func (s *kafkaSource) rebalanced(what string, ps []int32) {
	if len(ps) == 0 || s.k.group == "" {
		return
	}
	s.watch.rebalances.Add(1)
	if what != "assigned" {
		s.watch.mu.Lock()
		for _, p := range ps {
			delete(s.watch.lag, p)
		}
		s.watch.mu.Unlock()
	}
	owned := slices.Sorted(maps.Keys(s.owned))
	s.log.Info(fmt.Sprintf("%s: group %q %s partitions %v of topic %s; this process now owns %v", s.k.uri, s.k.group, what, slices.Sorted(slices.Values(ps)), s.k.topic, owned))
}
