# FuseGPT's backward pass and fused linears (ops' backward twins, the block backward, fused blocks).
df_test_exe(test_backward test_backward.c)
df_test(backward_ops 0 $<TARGET_FILE:test_backward>)
