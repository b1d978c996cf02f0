package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/store/pgstore"
	"github.com/riskd/riskd/internal/store/rediscount"
)

// openStore opens the configured backend: the embedded one, or PostgreSQL
// (with Redis counters if a Redis URL is given) for several replicas. A
// shared database reports whether it answers (store.HealthWatcher).
func openStore(ctx context.Context, cfg config.Config, keys *pseudonym.Keyer, log *slog.Logger) (st store.Store, closeAll func(), err error) {
	switch cfg.Store {
	case "postgres":
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		pg, err := pgstore.Open(octx, pgstore.Options{URL: cfg.PostgresURL, Schema: cfg.PostgresSchema,
			MaxConns: int32(cfg.PostgresMaxConns), KeyCheck: keys.Check(), Budget: cfg.PostgresTimeout, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		if cfg.RedisURL == "" {
			log.Info("store: postgres", "schema", cfg.PostgresSchema)
			return pg, func() { pg.Close() }, nil
		}
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			pg.Close()
			return nil, nil, fmt.Errorf("redis-url: %w", err)
		}
		// Counters must fail fast: a verifier waits on them inside its budget.
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
		opt.ContextTimeoutEnabled = true // a verifier's budget bounds each call
		opt.MaxRetries = 1
		// go-redis logs through a global; send it to our JSON log.
		redis.SetLogger(redisLog{log})
		client := redis.NewClient(opt)
		rc := rediscount.New(pg, rediscount.Options{Client: client, Prefix: "riskd:" + strings.ToLower(cfg.PostgresSchema) + ":",
			TTL: cfg.EventRetention, Logger: log})
		log.Info("store: postgres with redis counters", "schema", cfg.PostgresSchema, "redis", opt.Addr)
		return rc, func() { rc.Close(); client.Close() }, nil
	default:
		// The store logs what it does on its own (an import, a recovery)
		// through the service's JSON log.
		emb, err := pebblestore.Open(cfg.DataDir, pebblestore.Options{KeyCheck: keys.Check(), Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return emb, func() { emb.Close() }, nil
	}
}

// redisLog adapts go-redis's logger to slog, so every line is JSON.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
