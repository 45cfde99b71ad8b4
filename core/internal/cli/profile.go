package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts a CPU profile into cpuPath (when set) and returns the function that
// stops it and writes the heap profile into memPath (when set). Both files are for go tool
// pprof; they hold function names and sample counts, never data or credentials.
func startProfiles(cpuPath, memPath string) (stop func() error, err error) {
	var cpu *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		if err = pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			return nil, fmt.Errorf("--cpu-profile %s: %w", cpuPath, err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				errs = append(errs, fmt.Errorf("--cpu-profile %s: %w", cpuPath, err))
			}
		}
		if memPath != "" {
			runtime.GC() // the in-use figures as of the end of the run
			if err := writeHeapProfile(memPath); err != nil {
				errs = append(errs, fmt.Errorf("--mem-profile %s: %w", memPath, err))
			}
		}
		return errors.Join(errs...)
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
