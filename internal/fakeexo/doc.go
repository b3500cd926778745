// Package fakeexo is a fake Microsoft Entra ID (OAuth token endpoints) and a
// fake Exchange Online (SMTP submission with STARTTLS and XOAUTH2) that listen
// on 127.0.0.1. Tests and the demo point a profile at them with the
// authority, smtp and ca_file keys. Nothing in production imports it.
package fakeexo
