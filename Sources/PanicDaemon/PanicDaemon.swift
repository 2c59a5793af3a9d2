// PanicDaemon
