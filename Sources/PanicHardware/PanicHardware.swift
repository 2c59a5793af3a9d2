// PanicHardware
