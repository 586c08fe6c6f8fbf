package capsule;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** Marks a static field as living in Data memory (see docs/language.md). Compile-time only. */
@Retention(RetentionPolicy.SOURCE)
@Target(ElementType.FIELD)
public @interface Data {}
