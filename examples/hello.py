# %% A first cell: runs on a Backend.AI compute session (the embedded gateway by default).
import platform

print("Hello from Backend.AI!")
print("Python", platform.python_version())

# %% A second cell
total = sum(range(10))
print(f"sum(range(10)) = {total}")
