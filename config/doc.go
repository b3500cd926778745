// Package config owns the TOML configuration: loading it strictly (an
// unknown or misspelt key is an error naming file and line), the profiles
// per sending mailbox and how one is chosen, local recipients and their
// aliases, and the per-cloud endpoint table. It reads files and nothing else.
package config
