print("controlroom")
