// PanicConfig
