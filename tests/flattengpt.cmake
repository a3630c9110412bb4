# FlattenGPT: the weight surgery, the distributed Gram matrices and solves, the compress command.
df_test_exe(test_flattengpt test_flattengpt.c)
df_test(flattengpt_flatten 0 $<TARGET_FILE:test_flattengpt>)
