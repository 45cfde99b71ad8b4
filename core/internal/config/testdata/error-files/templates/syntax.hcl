defaults {
  runtime {
    writers = = 4 # ERROR: Invalid expression
  }
}
