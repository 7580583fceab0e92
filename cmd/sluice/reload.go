package main

import "strings"

// reloadSettings reads the broker settings again as serve read them at
// start: the --config-file, with the -c settings (validated at start) on
// top. The admin API's POST /v1/config/reload calls it; without a file
// there is nothing to reload.
func reloadSettings(configFile string, settings []string) func() (string, map[string]string, error) {
	if configFile == "" {
		return nil
	}
	return func() (string, map[string]string, error) {
		values := map[string]string{}
		if err := readProperties(configFile, values); err != nil {
			return configFile, nil, err
		}
		for _, kv := range settings {
			k, v, _ := strings.Cut(kv, "=")
			values[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		return configFile, values, nil
	}
}
