package jobs

import (
	"context"
	"fmt"
	"strings"
)

// StreamGroup is one consumer group of the outcome stream (StreamKey), as Redis reports it.
type StreamGroup struct {
	Name string
	// Lag is how many entries the group has not been delivered yet (-1 when Redis cannot tell, after
	// entries were trimmed or deleted from under it). A lag that keeps growing ends in entries
	// trimmed by outcomes.stream_retention before the group reads them.
	Lag int64
	// Pending is how many delivered entries the group has not acknowledged.
	Pending int64
}

// StreamGroups reports the outcome stream's consumer groups (none when the stream does not exist).
func (s *Store) StreamGroups(ctx context.Context) ([]StreamGroup, error) {
	gs, err := s.rdb.XInfoGroups(ctx, StreamKey).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return nil, nil
		}
		return nil, fmt.Errorf("outcome stream groups: %w", err)
	}
	out := make([]StreamGroup, len(gs))
	for i, g := range gs {
		out[i] = StreamGroup{Name: g.Name, Lag: g.Lag, Pending: g.Pending}
	}
	return out, nil
}
