package main

import (
	"crypto/sha256"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
)

// The supervisor asks the model for every machine ten times a second, and each answer carries the machines'
// configs: parsing them anew each time was most of this server's CPU on an idle lab (about 9% of a core with five
// machines, which a CI run on 2 cores cannot spare). A config's text is parsed once; a Provider is read-only, as
// Talos's controllers share one.
var parsedConfigs = struct {
	sync.Mutex
	byHash map[[sha256.Size]byte]parsedConfig
}{byHash: map[[sha256.Size]byte]parsedConfig{}}

type parsedConfig struct {
	cfg config.Provider
	err error
}

// maxParsedConfigs bounds the memo: a long lab run applies many configs, few of them still in use.
const maxParsedConfigs = 256

// loadNodeConfig is configloader.NewFromBytes for the configs the model holds, memoized by content.
func loadNodeConfig(text string) (config.Provider, error) {
	h := sha256.Sum256([]byte(text))

	parsedConfigs.Lock()
	p, ok := parsedConfigs.byHash[h]
	parsedConfigs.Unlock()

	if ok {
		return p.cfg, p.err
	}

	cfg, err := configloader.NewFromBytes([]byte(text))

	parsedConfigs.Lock()
	defer parsedConfigs.Unlock()

	if len(parsedConfigs.byHash) >= maxParsedConfigs {
		clear(parsedConfigs.byHash)
	}

	parsedConfigs.byHash[h] = parsedConfig{cfg: cfg, err: err}

	return cfg, err
}
