package pebblestore

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

// BoltFileName is the data file of the bbolt store that riskd used before
// this one. Open imports it once and renames it to BoltFileName+".imported".
const BoltFileName = "riskd.db"

// boltBuckets maps each bucket of the bbolt layout to its key prefix here.
// The layouts are the same byte for byte after the prefix, so an import
// copies keys and values without decoding them.
var boltBuckets = map[string]byte{
	"decisions":        pDecisions,
	"requests":         pRequests,
	"events":           pEvents,
	"batches":          pBatches,
	"links":            pLinks,
	"marks":            pMarks,
	"outcomes":         pOutcomes,
	"expire_events":    pExpEvents,
	"expire_decisions": pExpDecisions,
}

// importChunk bounds one synced batch of the import.
const importChunk = 4 << 20

// importBolt copies a bbolt data file in dir into db, if there is one that
// has not been imported. It is safe to run again after a crash midway:
// keys are copied as they are, so a second run writes the same keys, and
// the file is renamed only after the import's last batch is synced.
func importBolt(db *pebble.DB, dir string, keyCheck []byte, log *slog.Logger) error {
	path := filepath.Join(dir, BoltFileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("pebblestore: import %s: %w", path, err)
	}
	start := time.Now()
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("pebblestore: import %s: %w", path, err)
	}
	defer src.Close()
	var keys int
	err = src.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			if v := meta.Get([]byte("schema_version")); len(v) != 4 || v[3] != 1 || v[0]|v[1]|v[2] != 0 {
				return fmt.Errorf("the bbolt file has schema %x; this riskd imports schema 1", v)
			}
			if kc := meta.Get([]byte("key_check")); kc != nil {
				// Refused before anything is copied: the file stays as it was.
				if len(keyCheck) > 0 && subtle.ConstantTimeCompare(kc, keyCheck) != 1 {
					return ErrKeyMismatch
				}
				if err := db.Set(metaKeyCheck, kc, pebble.NoSync); err != nil {
					return err
				}
			}
		}
		b := db.NewBatch()
		defer func() { b.Close() }()
		for name, prefix := range boltBuckets {
			bk := tx.Bucket([]byte(name))
			if bk == nil {
				continue
			}
			err := bk.ForEach(func(k, v []byte) error {
				keys++
				if err := b.Set(key(prefix, k), v, nil); err != nil {
					return err
				}
				if b.Len() < importChunk {
					return nil
				}
				if err := b.Commit(pebble.Sync); err != nil {
					return err
				}
				b.Close()
				b = db.NewBatch()
				return nil
			})
			if err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		if err := b.Set(metaImported, []byte(path), nil); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
	if errors.Is(err, ErrKeyMismatch) {
		return err
	}
	if err != nil {
		return fmt.Errorf("pebblestore: import %s: %w", path, err)
	}
	if err := src.Close(); err != nil {
		return err
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("pebblestore: imported %s but cannot rename it: %w", path, err)
	}
	if log != nil {
		log.Info("store: imported the bbolt data file", "file", path, "keys", keys,
			"took", time.Since(start).String(), "kept_as", path+".imported")
	}
	return nil
}
