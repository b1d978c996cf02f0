package rediscount

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/riskd/riskd/internal/store"
)

// Erase implements store.Eraser: the base erases first (it is the record,
// and says which events it deleted); then the same events leave their
// sorted sets here, and every set counted by an erased identifier goes
// whole, whatever it still holds (an event Redis took that the base never
// did, such as one retried late). Unlike a decision's write, a Redis
// failure here fails the call: an erasure must not report done while the
// counters still hold the subject. A retry is safe (both steps are
// idempotent).
func (s *Store) Erase(ctx context.Context, e store.Erasure) (store.Erased, error) {
	if err := s.live(); err != nil {
		return store.Erased{}, err
	}
	eraser, ok := s.base.(store.Eraser)
	if !ok {
		return store.Erased{}, errors.New("rediscount: the base store cannot erase")
	}
	out, err := eraser.Erase(ctx, e)
	if err != nil {
		return out, err
	}
	pipe := s.rdb.TxPipeline()
	for _, ev := range out.Events {
		pipe.ZRem(ctx, s.key(ev.Series, ev.Key), encodeMember(ev))
	}
	for _, id := range e.IDs {
		match := globEscape(s.prefix+"ev:") + "*:" + strconv.Itoa(int(id.Kind)) + ":" + hex.EncodeToString(id.Hash[:])
		var cursor uint64
		for {
			keys, next, err := s.rdb.Scan(ctx, cursor, match, expirePage).Result()
			if err != nil {
				return out, fmt.Errorf("rediscount: redis: %w", err)
			}
			if len(keys) > 0 {
				pipe.Del(ctx, keys...)
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return out, fmt.Errorf("rediscount: redis: %w", err)
		}
	}
	return out, nil
}

// Erasures implements store.ErasureLog: the base keeps the log.
func (s *Store) Erasures(ctx context.Context) ([]store.ErasureRecord, error) {
	eraser, ok := s.base.(store.Eraser)
	if !ok {
		return nil, errors.New("rediscount: the base store cannot erase")
	}
	return eraser.Erasures(ctx)
}
