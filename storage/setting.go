package storage

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SetSetting records one setting of the app (window size, last folder, theme...). Values are the
// caller's text; JSON suits structured ones.
func (l *Library) SetSetting(key, value string) error {
	if key == "" {
		return fmt.Errorf("a setting needs a key")
	}
	return l.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSettings).Put([]byte(key), []byte(value)) })
}

// Setting is one setting's value, and whether it is set.
func (l *Library) Setting(key string) (string, bool, error) {
	var value []byte
	err := l.view(func(tx *bolt.Tx) error {
		value = bytes.Clone(tx.Bucket(bucketSettings).Get([]byte(key)))
		return nil
	})
	return string(value), value != nil, err
}

// Settings are every setting.
func (l *Library) Settings() (map[string]string, error) {
	out := map[string]string{}
	err := l.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSettings).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}

// DeleteSetting forgets a setting; deleting one that is not set is not an error.
func (l *Library) DeleteSetting(key string) error {
	return l.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSettings).Delete([]byte(key)) })
}
