# Foundation: ops, checkpoints, the forward pass against transformers, perplexity.
df_test_exe(test_reference test_reference.c)
df_test(reference 0 $<TARGET_FILE:test_reference>)
