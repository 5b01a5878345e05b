/* diff_labels.c - sites whose diff rows need more than a frame label, for
 * tests/integration/views.sh: two_calls() allocates from two call sites
 * (TWO_A and TWO_B blocks), which diff sums into one row of the function;
 * two functions whose names differ only in their middle, which a
 * 31-column site column cuts to the same text. Prints what it made:
 * "two_calls=N middle_one=N middle_two=N".
 */
#include <stdio.h>
#include <stdlib.h>

#define TWO_A 300
#define TWO_B 200
#define MIDDLE_ONE 150
#define MIDDLE_TWO 120

static void *volatile sink;

__attribute__((noipa)) static void two_calls(void)
{
	for (int i = 0; i < TWO_A; i++)
		free(sink = malloc(24));
	for (int i = 0; i < TWO_B; i++)
		free(sink = malloc(40));
}

__attribute__((noipa)) static void
diff_label_collision_left_part_one_and_then_a_long_right_part(void)
{
	for (int i = 0; i < MIDDLE_ONE; i++)
		free(sink = malloc(56));
}

__attribute__((noipa)) static void
diff_label_collision_left_part_two_and_then_a_long_right_part(void)
{
	for (int i = 0; i < MIDDLE_TWO; i++)
		free(sink = malloc(72));
}

int main(void)
{
	two_calls();
	diff_label_collision_left_part_one_and_then_a_long_right_part();
	diff_label_collision_left_part_two_and_then_a_long_right_part();
	printf("two_calls=%d middle_one=%d middle_two=%d\n", TWO_A + TWO_B,
	       MIDDLE_ONE, MIDDLE_TWO);
	return 0;
}
