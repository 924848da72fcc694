package main

// The protocols built into this binary; each registers itself by name.
import _ "hazgate/protocols/all"
