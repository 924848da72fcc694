package main

import (
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// heapObjects is the runtime metric profileHeapPeaks watches: bytes in
// live and not yet swept heap objects.
const heapObjects = "/memory/classes/heap/objects:bytes"

// profileHeapPeaks writes a heap profile to path whenever the heap passes
// its highest yet by an eighth, looked at every 100 ms, until ctx ends. A
// profile taken at exit shows what is left, not what held the memory at
// the peak that VmHWM (bench/peers' peak RSS) records.
func profileHeapPeaks(ctx context.Context, path string) error {
	if err := writeHeapProfile(path); err != nil {
		return err
	}
	go func() {
		sample := []metrics.Sample{{Name: heapObjects}}
		var peak uint64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak+peak/8 {
				peak = v
				_ = writeHeapProfile(path) // the last good one stays
			}
		}
	}()
	return nil
}

// writeHeapProfile replaces path with the heap profile as of the last GC.
func writeHeapProfile(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return nil
}
