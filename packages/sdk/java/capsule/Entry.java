package capsule;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** Marks a static method as an entry point of the program (its name goes in the entry table). */
@Retention(RetentionPolicy.SOURCE)
@Target(ElementType.METHOD)
public @interface Entry {}
