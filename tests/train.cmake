# FuseGPT's backward pass and fused linears (ops' backward twins, the block backward, fused blocks).
df_test_exe(test_backward test_backward.c)
df_test(backward_ops 0 $<TARGET_FILE:test_backward>)
# every gradient of a real block (plain and fused) against PyTorch autograd (Debian python3-torch)
df_test_exe(test_block_grad test_block_grad.c)
df_test(block_grad_torch 0 $<TARGET_FILE:test_block_grad> models/base-16L 6 ${DF_PYTHON}
        ${CMAKE_CURRENT_SOURCE_DIR}/block_grad_torch.py)
df_test(block_grad_torch_qwen2 0 $<TARGET_FILE:test_block_grad> arch/tiny-qwen2 1 ${DF_PYTHON}
        ${CMAKE_CURRENT_SOURCE_DIR}/block_grad_torch.py)
# fused group at init == removal (bit for bit), folded == unfolded (1e-5), sharing, nesting, arena
df_test_exe(test_fused test_fused.c)
df_test(fused_blocks 0 $<TARGET_FILE:test_fused>)
