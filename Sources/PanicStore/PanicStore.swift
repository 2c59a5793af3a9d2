// PanicStore
